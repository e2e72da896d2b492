"""SQL generation for the PostgreSQL sink: quoting, types, and the shape of each statement.
(The semantics run against a real PostgreSQL in the integration tests.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cdc_pipeline.sinks import postgres_sql as pg_sql
from cdc_pipeline.debezium import Column
from cdc_pipeline.errors import SchemaError
from cdc_pipeline.vocabulary import METADATA_COLUMNS, is_safe_widening

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "postgres-dw-init" / "01-bankdw.sql").read_text(encoding="utf-8")

ACCOUNTS = [
    Column("id", "bigint", False),
    Column("user_id", "bigint", False),
    Column("account", "string", False),
    Column("balance", "decimal(18,2)", False),
    Column("created_at", "timestamp_ntz", False),
    Column("updated_at", "timestamp", False),
]
WEIRD = [
    Column("select", "bigint", False),
    Column('we"ird', "string", True),
    Column("we'ird", "bigint", True),
    Column("Amount", "decimal(10,2)", True),
    Column("opened at", "timestamp_ntz", True),
]


def unquoted_text(sql: str) -> str:
    """The SQL with every quoted identifier and string literal removed."""
    return re.sub(r"'(?:[^']|'')*'", "''", re.sub(r'"(?:[^"]|"")*"', '""', sql))


def assert_weird_names_always_quoted(sql: str, names=("select", 'we"ird', "we'ird", "Amount", "opened at")) -> None:
    rest = unquoted_text(sql)
    for name in names:
        assert name not in rest, (name, rest)
    assert "ird" not in rest and "select" not in rest  # keywords are upper case: SELECT


def seed_columns(table: str) -> list[tuple[str, str]]:
    """(name, rest of the definition) of each column of a CREATE TABLE in 01-bankdw.sql."""
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", SEED, re.S).group(1)
    columns = []
    for line in body.splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        if not line or line.startswith(("CONSTRAINT", "CASE", "WHEN")) or not re.match(r"^[a-z_]+\s", line):
            continue
        name, rest = line.split(None, 1)
        columns.append((name, rest))
    return columns


def generated_columns(sql: str) -> list[tuple[str, str]]:
    create = sql.split(";\n")[0]
    body = create[create.index("(\n") + 2: create.rindex("\n)")]
    columns = []
    for line in body.split(",\n"):
        line = line.strip()
        if line.startswith(("CONSTRAINT", "PRIMARY KEY (")):
            continue
        match = re.match(r'^"((?:[^"]|"")*)" (.*)$', line, re.S)
        columns.append((match.group(1).replace('""', '"'), match.group(2)))
    return columns


def normalise(definition: str) -> str:
    text = re.sub(r"\s+", " ", definition.upper()).replace('"', "")
    text = text.replace("NUMERIC(18, 2)", "NUMERIC(18,2)").replace("VARCHAR(100)", "TEXT")
    return text.strip()


# --- quoting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, quoted",
    [("id", '"id"'), ("select", '"select"'), ('we"ird', '"we""ird"'), ('""', '""""""'), ("Mixed Case", '"Mixed Case"'),
     ("é", '"é"'), ("x" * 63, '"' + "x" * 63 + '"')],
)
def test_quote_ident(name, quoted):
    assert pg_sql.quote_ident(name) == quoted


@pytest.mark.parametrize("name", ["", "a\x00b", "x" * 64, "é" * 32, None, 5])
def test_quote_ident_refuses(name):
    with pytest.raises(SchemaError):
        pg_sql.quote_ident(name)


def test_quote_literal_and_qualified():
    assert pg_sql.quote_literal("it's") == "'it''s'"
    assert pg_sql.quote_literal("") == "''"
    with pytest.raises(SchemaError):
        pg_sql.quote_literal("a\x00")
    assert pg_sql.qualified("t", "public") == '"public"."t"'
    assert pg_sql.qualified('t"x') == '"t""x"'


# --- types --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spark_type, pg",
    [("bigint", "bigint"), ("int", "integer"), ("smallint", "smallint"), ("tinyint", "smallint"), ("boolean", "boolean"),
     ("double", "double precision"), ("float", "real"), ("string", "text"), ("binary", "bytea"), ("date", "date"),
     ("timestamp", "timestamptz(6)"), ("timestamp_ntz", "timestamp(6)"), ("decimal(18,2)", "numeric(18,2)"),
     ("decimal(38, 0)", "numeric(38,0)"), ("DECIMAL(5,5)", "numeric(5,5)"), ("decimal", "numeric(10,0)"),
     ("integer", "integer"), ("long", "bigint")],
)
def test_pg_type(spark_type, pg):
    assert pg_sql.pg_type(spark_type) == pg


@pytest.mark.parametrize("spark_type", ["varchar", "decimal(39,0)", "decimal(5,6)", "decimal(0,0)", "array<int>", "", "decimal(18,2)x"])
def test_pg_type_refuses(spark_type):
    with pytest.raises(SchemaError):
        pg_sql.pg_type(spark_type)


@pytest.mark.parametrize(
    "old, new, safe",
    [("int", "bigint", True), ("tinyint", "int", True), ("smallint", "bigint", True), ("bigint", "int", False),
     ("int", "smallint", False), ("float", "double", True), ("double", "float", False),
     ("decimal(18,2)", "decimal(20,2)", True), ("decimal(18,2)", "decimal(18,2)", True), ("decimal(18,2)", "decimal(17,2)", False),
     ("decimal(18,2)", "decimal(20,3)", False), ("string", "string", True), ("int", "string", False), ("string", "int", False),
     ("int", "double", False), ("int", "decimal(38,0)", False), ("timestamp_ntz", "timestamp", False),
     ("date", "timestamp_ntz", False), ("bigint", "bigint", True), ("decimal(10, 2)", "decimal(12,2)", True)],
)
def test_is_safe_widening(old, new, safe):
    assert is_safe_widening(old, new) is safe


def test_alter_type_sql_for_safe_changes_only():
    sql = pg_sql.alter_type_sql("bank_accounts", "balance", "decimal(18,2)", "decimal(20,2)", schema="public")
    assert sql == (
        'ALTER TABLE "public"."bank_accounts_history" ALTER COLUMN "balance" TYPE numeric(20,2);\n'
        'ALTER TABLE "public"."bank_accounts_current" ALTER COLUMN "balance" TYPE numeric(20,2);'
    )
    assert pg_sql.alter_type_sql("t", 'we"ird', "int", "bigint").count('ALTER COLUMN "we""ird" TYPE bigint') == 2
    assert pg_sql.alter_type_sql("t", "c", "tinyint", "smallint") == ""  # both smallint in PostgreSQL
    assert pg_sql.alter_type_sql("t", "c", "string", "string") == ""
    with pytest.raises(SchemaError, match=r"t\.c: changing the type from bigint to int is not a safe widening"):
        pg_sql.alter_type_sql("t", "c", "bigint", "int")


def test_add_columns_sql():
    sql = pg_sql.add_columns_sql("odd", [Column("select", "int", False), Column('we"ird', "timestamp", True)], schema="dw")
    assert sql == (
        'ALTER TABLE "dw"."odd_history" ADD COLUMN IF NOT EXISTS "select" integer, ADD COLUMN IF NOT EXISTS "we""ird" timestamptz(6);\n'
        'ALTER TABLE "dw"."odd_current" ADD COLUMN IF NOT EXISTS "select" integer, ADD COLUMN IF NOT EXISTS "we""ird" timestamptz(6);'
    )  # new columns are nullable even when the source says NOT NULL: older rows have no value
    assert pg_sql.add_columns_sql("odd", []) == ""
    with pytest.raises(SchemaError, match="_seq"):
        pg_sql.add_columns_sql("odd", [Column("_seq", "int", True)])


# --- DDL against the seed schema ----------------------------------------------------------------------


def test_history_table_matches_the_seed_schema():
    sql = pg_sql.create_history_table_sql("bank_accounts", ACCOUNTS, ["id"])
    ours = generated_columns(sql)
    seed = seed_columns("bank_accounts_history")
    assert [n for n, _ in ours] == [n for n, _ in seed]
    for (name, mine), (_, theirs) in zip(ours, seed):
        if name == "_change_type":
            assert "GENERATED ALWAYS AS" in mine and "STORED" in mine
            continue
        assert normalise(mine) == normalise(theirs), name
    assert sql.startswith('CREATE TABLE IF NOT EXISTS "bank_accounts_history" (')
    assert 'CONSTRAINT "bank_accounts_history_event_once" UNIQUE ("_kafka_topic", "_kafka_partition", "_kafka_offset")' in sql
    assert 'CREATE INDEX IF NOT EXISTS "bank_accounts_history_key_seq" ON "bank_accounts_history" ("id", "_seq");' in sql
    assert 'CREATE INDEX IF NOT EXISTS "bank_accounts_history_source_ts" ON "bank_accounts_history" ("_source_ts");' in sql


def test_current_table_matches_the_seed_schema():
    sql = pg_sql.create_current_table_sql("bank_accounts", ACCOUNTS, ["id"], schema="public")
    ours = generated_columns(sql)
    seed = seed_columns("bank_accounts_current")
    assert [n for n, _ in ours] == [n for n, _ in seed]
    for (name, mine), (_, theirs) in zip(ours, seed):
        theirs = theirs.replace("PRIMARY KEY", "NOT NULL")  # we declare the key as a table constraint
        assert normalise(mine) == normalise(theirs), name
    assert sql.startswith('CREATE TABLE IF NOT EXISTS "public"."bank_accounts_current" (')
    assert sql.endswith('PRIMARY KEY ("id")\n);')


def test_user_stats_table_matches_the_seed_schema():
    sql = pg_sql.create_user_stats_table_sql("user_account_stats", ACCOUNTS[1], ACCOUNTS[3], ACCOUNTS[4])
    ours, seed = generated_columns(sql), seed_columns("user_account_stats")
    assert [n for n, _ in ours] == [n for n, _ in seed]
    assert dict(ours)["user_id"] == "bigint PRIMARY KEY"
    assert dict(ours)["total_balance"] == "numeric(28,2) NOT NULL"  # room for the sum of many numeric(18,2)
    assert dict(ours)["first_opened_at"] == "timestamp(6)"
    with pytest.raises(SchemaError):
        pg_sql.create_user_stats_table_sql("s", ACCOUNTS[1], ACCOUNTS[2])  # cannot sum a string


def test_history_without_key_columns_has_no_key_index_and_nullable_columns():
    sql = pg_sql.create_history_table_sql("t", ACCOUNTS)
    assert "key_seq" not in sql and '"id" bigint,' in sql


def test_ddl_quotes_every_name():
    for sql in (
        pg_sql.create_history_table_sql("we\"ird table", WEIRD, ["select", 'we"ird']),
        pg_sql.create_current_table_sql("we\"ird table", WEIRD, ["select", 'we"ird']),
        pg_sql.create_staging_table_sql("we\"ird staging", WEIRD),
        pg_sql.create_user_stats_table_sql("we\"ird stats", WEIRD[2], WEIRD[3], WEIRD[4]),
    ):
        assert_weird_names_always_quoted(sql)
    current = pg_sql.create_current_table_sql("x", WEIRD, ["select", 'we"ird'])
    assert '"select" bigint NOT NULL' in current and '"we""ird" text NOT NULL' in current
    assert 'PRIMARY KEY ("select", "we""ird")' in current


def test_long_table_names_get_short_constraint_names():
    name = "t" * 55
    sql = pg_sql.create_history_table_sql(name, ACCOUNTS, ["id"])
    object_names = re.findall(r'(?:CONSTRAINT|INDEX IF NOT EXISTS) "([^"]+)"', sql)
    assert len(object_names) == 3 and len(set(object_names)) == 3
    assert all(len(n.encode()) <= 63 for n in object_names)
    assert all(n.endswith(("_event_once", "_key_seq", "_source_ts")) for n in object_names)


def test_staging_table_has_source_and_metadata_columns():
    sql = pg_sql.create_staging_table_sql("stg", ACCOUNTS)
    names = [n for n, _ in generated_columns(sql)]
    assert names == [c.name for c in ACCOUNTS] + [c.name for c in METADATA_COLUMNS]
    assert sql.startswith('CREATE UNLOGGED TABLE IF NOT EXISTS "stg"')
    assert '"_before" text' in sql and '"_seq" numeric(38,0) NOT NULL' in sql and '"id" bigint,' in sql
    assert pg_sql.create_staging_table_sql("stg", ACCOUNTS, temporary=True).startswith("CREATE TEMPORARY TABLE")
    assert pg_sql.delete_staging_sql("stg", 12) == 'DELETE FROM "stg" WHERE "_batch_id" = 12'


@pytest.mark.parametrize("make", [
    lambda cols: pg_sql.create_history_table_sql("t", cols),
    lambda cols: pg_sql.create_current_table_sql("t", cols, ["id"]),
    lambda cols: pg_sql.create_staging_table_sql("s", cols),
    lambda cols: pg_sql.insert_history_sql("t", "s", cols, ["id"]),
    lambda cols: pg_sql.upsert_current_sql("t", "s", cols, ["id"]),
])
def test_source_columns_named_like_metadata_are_refused(make):
    make(ACCOUNTS)  # fine without the clash
    with pytest.raises(SchemaError, match="'_op' has the name of a pipeline metadata column"):
        make(ACCOUNTS + [Column("_op", "string", True)])


def test_key_columns_must_exist():
    with pytest.raises(SchemaError, match=r"key column\(s\) \['nope'\]"):
        pg_sql.create_current_table_sql("t", ACCOUNTS, ["nope"])
    with pytest.raises(SchemaError):
        pg_sql.upsert_current_sql("t", "s", ACCOUNTS, [])
    with pytest.raises(SchemaError):
        pg_sql.upsert_current_sql("t", "s", ACCOUNTS, "id")


# --- applying a batch ---------------------------------------------------------------------------------


def test_insert_history_sql():
    sql = pg_sql.insert_history_sql("bank_accounts", "stg", ACCOUNTS, ["id"], batch_id=7, schema="public")
    assert sql.startswith(
        'INSERT INTO "public"."bank_accounts_history" ("_op", "_seq", "_source_ts", "id", "user_id", "account", "balance", '
        '"created_at", "updated_at", "_before", "_binlog_file", "_binlog_pos", "_binlog_row", "_kafka_topic", '
        '"_kafka_partition", "_kafka_offset", "_batch_id")\nSELECT DISTINCT ON ("s"."id", "s"."_seq") "s"."_op", '
    )
    assert 'CAST("s"."_before" AS jsonb)' in sql
    assert '\nFROM "stg" AS "s"\nWHERE "s"."_batch_id" = 7\n' in sql
    assert ('AND NOT EXISTS (SELECT 1 FROM "public"."bank_accounts_history" AS "h" '
            'WHERE "h"."id" = "s"."id" AND "h"."_seq" = "s"."_seq")') in sql
    assert '\nORDER BY "s"."id", "s"."_seq", "s"."_kafka_offset"\n' in sql  # the first delivery of a replay wins
    assert sql.endswith('ON CONFLICT ("_kafka_topic", "_kafka_partition", "_kafka_offset") DO NOTHING')


def test_insert_history_sql_without_key_or_batch():
    sql = pg_sql.insert_history_sql("t", "stg", ACCOUNTS)
    assert "DISTINCT ON" not in sql and "NOT EXISTS" not in sql and "WHERE" not in sql
    assert sql.endswith("DO NOTHING")


@pytest.mark.parametrize("batch_id", [-1, True, "3", 1.0, None])
def test_batch_id_must_be_an_integer(batch_id):
    if batch_id is None:
        assert "_batch_id\" =" not in pg_sql.insert_history_sql("t", "s", ACCOUNTS, batch_id=None)
        return
    with pytest.raises(ValueError):
        pg_sql.insert_history_sql("t", "s", ACCOUNTS, batch_id=batch_id)
    with pytest.raises(ValueError):
        pg_sql.delete_staging_sql("s", batch_id)


def test_upsert_current_sql():
    sql = pg_sql.upsert_current_sql("bank_accounts", "stg", ACCOUNTS, ["id"], batch_id=7)
    last = sql[: sql.index('), "deleted"')]
    assert last.startswith('WITH "last_change" AS (\n    SELECT DISTINCT ON ("s"."id") ')
    assert 'WHERE "s"."_batch_id" = 7' in last
    assert last.rstrip().endswith('ORDER BY "s"."id", "s"."_seq" DESC, "s"."_kafka_offset" DESC')
    assert ('DELETE FROM "bank_accounts_current" AS "c" USING "last_change" AS "l"\n'
            '    WHERE "l"."_op" = \'d\' AND "c"."id" = "l"."id" AND "c"."_seq" <= "l"."_seq"') in sql
    insert = sql[sql.index('INSERT INTO'):]
    assert insert.startswith(
        'INSERT INTO "bank_accounts_current" AS "c" ("id", "user_id", "account", "balance", "created_at", "updated_at", '
        '"_op", "_seq", "_source_ts", "_batch_id", "_loaded_at")'
    )
    assert 'WHERE "l"."_op" <> \'d\'' in insert
    assert ('NOT EXISTS (SELECT 1 FROM "bank_accounts_history" AS "h" WHERE "h"."id" = "l"."id" '
            'AND "h"."_seq" > "l"."_seq")') in insert
    assert 'ON CONFLICT ("id") DO UPDATE SET' in insert
    assert '"id" = EXCLUDED."id"' not in insert  # the key is not updated
    assert '"balance" = EXCLUDED."balance"' in insert and '"_seq" = EXCLUDED."_seq"' in insert
    assert insert.endswith('\nWHERE "c"."_seq" < EXCLUDED."_seq"')


def test_upsert_current_sql_options_and_composite_key():
    sql = pg_sql.upsert_current_sql("t", "stg", WEIRD, ["select", 'we"ird'], history_guard=False, schema="dw")
    assert '"_history"' not in sql and "t_history" not in sql
    assert 'SELECT DISTINCT ON ("s"."select", "s"."we""ird")' in sql
    assert '"c"."select" = "l"."select" AND "c"."we""ird" = "l"."we""ird"' in sql
    assert 'ON CONFLICT ("select", "we""ird") DO UPDATE' in sql
    assert '"_batch_id" =' not in sql.split("DO UPDATE")[0]  # no batch filter without batch_id
    assert_weird_names_always_quoted(sql)


def test_recompute_user_stats_sql():
    sql = pg_sql.recompute_user_stats_sql(
        "bank_accounts", "stg", ACCOUNTS, group_by="user_id", sum_column="balance", batch_id=7,
        opened_at_column="created_at", schema="public",
    )
    touched = sql[: sql.index('), "fresh"')]
    assert 'SELECT "s"."user_id" AS "k" FROM "stg" AS "s" WHERE "s"."_batch_id" = 7 AND "s"."user_id" IS NOT NULL' in touched
    assert 'SELECT CAST(CAST("s"."_before" AS jsonb) ->> \'user_id\' AS bigint) FROM "stg" AS "s" WHERE "s"."_batch_id" = 7' in touched
    assert "UNION" in touched
    assert 'FROM "public"."bank_accounts_current" AS "c" WHERE "c"."user_id" IN (SELECT "k" FROM "touched")' in sql
    assert 'count(*) AS "account_count"' in sql and 'coalesce(sum("c"."balance"), 0) AS "total_balance"' in sql
    assert 'min("c"."created_at") AS "first_opened_at"' in sql and 'max("c"."_source_ts") AS "last_change_ts"' in sql
    assert ('DELETE FROM "public"."user_account_stats" AS "t"\n    WHERE "t"."user_id" IN (SELECT "k" FROM "touched")\n'
            '      AND NOT EXISTS (SELECT 1 FROM "fresh" AS "f" WHERE "f"."k" = "t"."user_id")') in sql
    assert 'INSERT INTO "public"."user_account_stats" AS "t" ("user_id", "account_count", "total_balance", "min_balance", ' \
           '"max_balance", "first_opened_at", "last_change_ts", "_batch_id", "_updated_at")' in sql
    assert ", 7, now()\nFROM \"fresh\" AS \"f\"\nON CONFLICT (\"user_id\") DO UPDATE SET" in sql
    assert '"total_balance" = EXCLUDED."total_balance"' in sql


def test_recompute_user_stats_sql_quoting_and_checks():
    sql = pg_sql.recompute_user_stats_sql("t", "stg", WEIRD, group_by="we'ird", sum_column="Amount", batch_id=1,
                                          stats_table="we\"ird stats")
    assert "->> 'we''ird'" in sql and 'AS bigint' in sql
    assert "NULL AS \"first_opened_at\"" in sql
    assert_weird_names_always_quoted(sql, names=("we'ird", "Amount"))
    for kwargs in ({"group_by": "nope", "sum_column": "Amount"}, {"group_by": "we'ird", "sum_column": "nope"},
                   {"group_by": "we'ird", "sum_column": "Amount", "opened_at_column": "nope"}):
        with pytest.raises(SchemaError, match="'nope' is not a column of t"):
            pg_sql.recompute_user_stats_sql("t", "stg", WEIRD, batch_id=1, **kwargs)


def test_apply_statements_quote_every_name():
    for sql in (
        pg_sql.insert_history_sql('we"ird table', "stg", WEIRD, ["select"], batch_id=3),
        pg_sql.upsert_current_sql('we"ird table', "stg", WEIRD, ["select"], batch_id=3),
        pg_sql.recompute_user_stats_sql('we"ird table', "stg", WEIRD, group_by="select", sum_column="Amount",
                                        opened_at_column="opened at", batch_id=3),
    ):
        assert_weird_names_always_quoted(sql)
        assert '"we""ird table_' in sql


def test_single_statements_have_no_statement_separator():
    for sql in (
        pg_sql.insert_history_sql("t", "s", ACCOUNTS, ["id"], batch_id=1),
        pg_sql.upsert_current_sql("t", "s", ACCOUNTS, ["id"], batch_id=1),
        pg_sql.recompute_user_stats_sql("t", "s", ACCOUNTS, group_by="user_id", sum_column="balance", batch_id=1),
    ):
        assert ";" not in unquoted_text(sql)


def test_evolve_staging_adds_every_column_and_widens_only_safely():
    from cdc_pipeline.debezium import Column as Col
    from cdc_pipeline.sinks.postgres_sql import evolve_staging_sql

    sql = evolve_staging_sql("cdc_stage_t", [Col("id", "bigint", False), Col("we\"ird", "string", True)],
                             [("id", "int", "bigint"), ("x", "tinyint", "smallint")])
    assert 'ALTER TABLE "cdc_stage_t" ADD COLUMN IF NOT EXISTS "id" bigint' in sql
    assert 'ADD COLUMN IF NOT EXISTS "we""ird" text' in sql
    assert 'ALTER COLUMN "id" TYPE bigint' in sql
    assert '"x"' not in sql  # tinyint and smallint are both smallint in PostgreSQL: nothing to alter
    assert "ALTER COLUMN" not in evolve_staging_sql("s", [Col("a", "string", True)], [("a", "string", "bigint")])


def test_copy_from_stdin_quotes_every_identifier():
    assert pg_sql.copy_from_stdin_sql('cdc_stage_we"ird', ["id", 'a"b', "_seq"]) == (
        'COPY "cdc_stage_we""ird" ("id", "a""b", "_seq") FROM STDIN WITH (FORMAT csv)')
    with pytest.raises(SchemaError, match="at least one column"):
        pg_sql.copy_from_stdin_sql("t", [])


@pytest.mark.parametrize("type_name, form", [
    ("string", "as_is"), ("boolean", "t_f"), ("binary", "bytea_hex"), ("timestamp", "instant"),
    ("decimal(38,0)", "cast"), ("timestamp_ntz", "cast"), ("date", "cast"), ("long", "cast")])
def test_copy_text_form_per_spark_type(type_name, form):
    assert pg_sql.copy_text_form(type_name) == form


def test_copy_text_form_refuses_nested_types():
    with pytest.raises(SchemaError, match="no PostgreSQL COPY form for Spark type 'array'"):
        pg_sql.copy_text_form("array")


def test_a_current_table_with_stats_gets_the_group_by_index_the_seed_has():
    cols = [Column("id", "bigint", False), Column("user_id", "bigint", False), Column("balance", "decimal(18,2)", True)]
    sql = pg_sql.create_current_table_sql("bank_accounts", cols, ["id"], schema="public", group_by="user_id")
    assert sql.endswith('CREATE INDEX IF NOT EXISTS "bank_accounts_current_user_id" '
                        'ON "public"."bank_accounts_current" ("user_id");')
    seed = (Path(__file__).resolve().parents[2] / "postgres-dw-init" / "01-bankdw.sql").read_text()
    assert "CREATE INDEX bank_accounts_current_user_id ON bank_accounts_current (user_id)" in seed
    assert "CREATE INDEX" not in pg_sql.create_current_table_sql("bank_accounts", cols, ["id"])
    with pytest.raises(SchemaError, match="stats column 'nope'"):
        pg_sql.create_current_table_sql("bank_accounts", cols, ["id"], group_by="nope")


def test_a_widened_stats_source_column_widens_the_stats_table():
    user, balance = Column("user_id", "bigint", False), Column("balance", "decimal(30,2)", False)
    opened = Column("created_at", "timestamp_ntz", False)
    sql_text = pg_sql.widen_user_stats_sql("stats", user, balance, opened, [("balance", "decimal(18,2)", "decimal(30,2)")])
    assert sql_text == ('ALTER TABLE "stats" ALTER COLUMN "total_balance" TYPE numeric(40,2);\n'
                        'ALTER TABLE "stats" ALTER COLUMN "min_balance" TYPE numeric(30,2);\n'
                        'ALTER TABLE "stats" ALTER COLUMN "max_balance" TYPE numeric(30,2);')
    assert pg_sql.widen_user_stats_sql("stats", Column("user_id", "bigint", False), balance, None,
                                       [("user_id", "int", "bigint")]) == \
        'ALTER TABLE "stats" ALTER COLUMN "user_id" TYPE bigint;'
    assert pg_sql.widen_user_stats_sql("stats", user, balance, None, [("other", "int", "bigint")]) == ""


def test_versions_view_over_the_history():
    from cdc_pipeline.sinks.postgres_sql import (create_versions_view_sql, drop_versions_view_sql,
                                                 history_source_columns_sql)
    statements = create_versions_view_sql("bank_accounts", ["account_id", "balance"], ["account_id"],
                                          schema="dw").split(";\n")
    assert statements[0].startswith('CREATE VIEW "dw"."bank_accounts_versions" AS\nSELECT "valid_from", "valid_to"')
    assert 'FROM "dw"."bank_accounts_history"' in statements[0]
    assert 'OVER (PARTITION BY "account_id" ORDER BY "_seq", "_kafka_offset")' in statements[0]
    assert statements[1].startswith('COMMENT ON VIEW "dw"."bank_accounts_versions" IS \'the state as of T: ')
    assert drop_versions_view_sql("bank_accounts", schema="dw") == 'DROP VIEW IF EXISTS "dw"."bank_accounts_versions"'
    columns = history_source_columns_sql("o'dd", "dw")
    assert "table_name = 'o''dd_history'" in columns and "'_op'" in columns and "'_loaded_at'" in columns
