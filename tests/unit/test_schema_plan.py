"""Schema evolution decisions: add, widen, or reject a column set (to the dead letters)."""
from cdc_pipeline.debezium import Column
from cdc_pipeline.schema_plan import plan_columns

ID = Column("id", "bigint", False)
AMOUNT = Column("amount", "decimal(18,2)", False)


def test_a_new_table_takes_the_first_column_set_as_it_is():
    plan = plan_columns("t", None, [(ID, AMOUNT)], ("id",))
    assert plan.columns == [ID, AMOUNT] and not plan.added and not plan.rejected


def test_a_new_column_is_added_nullable():
    plan = plan_columns("t", (ID, AMOUNT), [(ID, AMOUNT, Column("note", "string", False))], ("id",))
    assert plan.added == [Column("note", "string", True)]
    assert plan.columns[-1] == Column("note", "string", True)


def test_a_later_column_set_in_the_first_batch_adds_nullable_columns():
    plan = plan_columns("t", None, [(ID,), (ID, AMOUNT)], ("id",))
    assert plan.columns == [ID, Column("amount", "decimal(18,2)", True)]


def test_safe_widening_is_applied_and_older_narrow_rows_still_fit():
    plan = plan_columns("t", (Column("id", "int", False), AMOUNT),
                        [(Column("id", "int", False), AMOUNT), (Column("id", "bigint", False),
                                                                Column("amount", "decimal(20,2)", False))], ("id",))
    assert plan.widened == [("id", "int", "bigint"), ("amount", "decimal(18,2)", "decimal(20,2)")]
    assert not plan.rejected
    narrower_again = plan_columns("t", tuple(plan.columns), [(Column("id", "int", False), AMOUNT)], ("id",))
    assert not narrower_again.widened and not narrower_again.rejected


def test_an_incompatible_type_change_rejects_that_column_set_only():
    bad = (ID, Column("amount", "string", False))
    plan = plan_columns("t", (ID, AMOUNT), [(ID, AMOUNT), bad], ("id",))
    assert list(plan.rejected) == [bad]
    assert "amount: decimal(18,2) -> string" in plan.rejected[bad]
    assert plan.columns == [ID, AMOUNT]


def test_a_column_set_without_the_key_is_rejected():
    plan = plan_columns("t", (ID, AMOUNT), [(AMOUNT,)], ("id",))
    assert "key column(s) ['id'] missing" in plan.rejected[(AMOUNT,)]


def test_a_column_named_like_a_pipeline_column_is_stored_with_the_prefix():
    op, key_upper = Column("_op", "string", True), Column("_KEY", "int", True)
    plan = plan_columns("t", None, [(ID, op, key_upper)], ("id",))
    assert plan.columns == [ID, Column("src_op", "string", True), Column("src_KEY", "int", True)]
    assert plan.sources == {"src_op": "_op", "src_KEY": "_KEY"} and not plan.rejected
    # A later batch: the same rename, registered column found under its sink name.
    later = plan_columns("t", tuple(plan.columns), [(ID, Column("_op", "string", True))], ("id",))
    assert later.columns == plan.columns and not later.added and later.sources == {"src_op": "_op"}


def test_a_renamed_column_that_meets_a_real_one_or_a_reserved_key_rejects_the_set():
    clash = (ID, Column("_op", "string", True), Column("SRC_op", "string", True))
    plan = plan_columns("t", None, [clash, (ID,)], ("id",))
    assert "would be stored as ['src_op']" in plan.rejected[clash] and plan.columns == [ID]
    keyed = (Column("_seq", "bigint", False), Column("v", "string", True))
    plan = plan_columns("t", None, [keyed], ("_seq",))
    assert "cannot be renamed" in plan.rejected[keyed] and plan.columns == []


def test_a_backtick_debezium_keeps_escaped_and_a_long_name_are_stored_as_mysql_names_them_or_shortened():
    long_name = "é" * 40  # 80 bytes: over PostgreSQL's 63
    fields = (Column("id", "bigint", False), Column("back``tick", "string", True), Column(long_name, "string", True))
    plan = plan_columns("t", None, [fields], ("id",))
    stored = [c.name for c in plan.columns]
    assert stored[:2] == ["id", "back`tick"] and len(stored[2].encode()) <= 63 and stored[2] != long_name
    assert plan.sources == {"back`tick": "back``tick", stored[2]: long_name} and not plan.rejected
