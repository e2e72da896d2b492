"""Planning a micro-batch (cdc_pipeline.plan) in a local Spark, no stack: one decode, one summary, a
schema plan and a typed frame per table, dead letters for what cannot be applied — built once."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from cdc_messages import planning_config, synthetic
from cdc_pipeline.batch import columns_from_json, end_offsets, summarize
from cdc_pipeline.config import PipelineConfig, TableConfig
from cdc_pipeline.debezium import Column
from cdc_pipeline.plan import plan_batch

TOPIC = "t.shop.things"
ID = {"type": "int64", "optional": False, "field": "id"}
NAME = {"type": "string", "optional": True, "field": "name"}
NAME_AS_INT = {"type": "int32", "optional": True, "field": "name"}
COLS = '[["id","bigint",false],["name","string",true]]'


def kafka_rows(spark, records, topic=TOPIC):
    rows = [(None if r["key"] is None else r["key"].encode(), None if r["value"] is None else r["value"].encode(),
             topic, i % 2, 100 + i, datetime(2026, 1, 1, tzinfo=timezone.utc), 0) for i, r in enumerate(records)]
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset bigint, "
                                       "timestamp timestamp, timestampType int")


def config_for(*sinks: str, max_record_bytes: int = 16 * 1024 * 1024) -> PipelineConfig:
    table = TableConfig(topic=TOPIC, name="things", key_columns=("id",), sinks=sinks)
    return planning_config(table, max_record_bytes=max_record_bytes)


def change(fields, row, pos, op="c"):
    return synthetic(fields, row, op=op, key={"id": row["id"]}, source={"pos": pos, "row": 0})


def test_summary_moves_rejected_column_sets_to_the_dead_letters():
    groups = [("change", "t", "c", COLS, 3, 0, 10), ("change", "t", "u", COLS, 2, 1, 4),
              ("change", "t", "c", '[["id","bigint",false]]', 4, 0, 12), ("tombstone", "t", None, None, 1, 1, 5),
              ("error", "t", None, None, 2, 0, 13)]
    plain = summarize(groups)
    assert plain.counts() == {"rows_in": 12, "snapshots": 0, "inserts": 7, "updates": 2, "deletes": 0,
                              "tombstones": 1, "dead_letters": 2}
    assert plain.column_sets["t"] == [columns_from_json(COLS), columns_from_json('[["id","bigint",false]]')]
    refused = summarize(groups, frozenset({("t", '[["id","bigint",false]]')}))
    assert refused.counts()["inserts"] == 3 and refused.counts()["dead_letters"] == 6
    assert refused.column_sets["t"] == [columns_from_json(COLS)]
    assert end_offsets(groups) == {"t": {"0": 14, "1": 6}}


def test_a_batch_is_planned_once_for_every_sink(spark):
    records = [change([ID, NAME], {"id": 1, "name": "a"}, 10), change([ID, NAME], {"id": 2, "name": "b"}, 20),
               change([ID, NAME], {"id": 1, "name": "a2"}, 30, op="u"),
               {"key": None, "value": "{not json"}]
    planned = plan_batch(kafka_rows(spark, records), 7, config_for("iceberg", "postgres"), registered={})
    try:
        assert planned.summary.counts() == {"rows_in": 4, "snapshots": 0, "inserts": 2, "updates": 1,
                                            "deletes": 0, "tombstones": 0, "dead_letters": 1}
        [table] = planned.tables
        assert table.name == "things" and planned.tables_for("postgres") == [table]
        assert table.schema.columns == [Column("id", "bigint", False), Column("name", "string", True)]
        rows = sorted((r["id"], r["name"], r["_op"], r["_batch_id"]) for r in table.changes.collect())
        assert rows == [(1, "a", "c", 7), (1, "a2", "u", 7), (2, "b", "c", 7)]
        seqs = {r["_op"]: r["_seq"] for r in table.changes.where("id = 1").collect()}
        assert isinstance(seqs["u"], Decimal) and seqs["u"] > seqs["c"]  # binlog position 30 after 10
        [dead] = planned.dead_letters.collect()
        assert (dead["kafka_offset"], dead["error_kind"], bytes(dead["kafka_value"])) == (103, "malformed_json", b"{not json")
        assert planned.end_offsets == {TOPIC: {"0": 103, "1": 104}}
        assert planned.schemas == {"things": (Column("id", "bigint", False), Column("name", "string", True))}
    finally:
        planned.release()
    assert not table.changes.is_cached


def test_an_incompatible_column_set_goes_to_the_dead_letters_with_its_raw_bytes(spark):
    registered = {"things": (Column("id", "bigint", False), Column("name", "string", True))}
    records = [change([ID, NAME], {"id": 1, "name": "a"}, 10), change([ID, NAME_AS_INT], {"id": 2, "name": 5}, 20)]
    planned = plan_batch(kafka_rows(spark, records), 3, config_for("postgres"), registered)
    try:
        assert planned.summary.counts()["inserts"] == 1 and planned.summary.counts()["dead_letters"] == 1
        [table] = planned.tables
        assert [r["id"] for r in table.changes.collect()] == [1]
        [dead] = planned.dead_letters.collect()
        assert dead["error_kind"] == "schema_incompatible" and "name: string -> int" in dead["reason"]
        assert bytes(dead["kafka_value"]) == records[1]["value"].encode()
    finally:
        planned.release()


@pytest.mark.parametrize("sinks", [("iceberg",), ("postgres",)])
def test_tables_are_handed_only_to_their_sinks(spark, sinks):
    planned = plan_batch(kafka_rows(spark, [change([ID, NAME], {"id": 1, "name": "a"}, 10)]), 0,
                         config_for(*sinks), registered={})
    try:
        other = {"iceberg": "postgres", "postgres": "iceberg"}[sinks[0]]
        assert [t.name for t in planned.tables_for(sinks[0])] == ["things"] and planned.tables_for(other) == []
        assert planned.dead_letters is None
    finally:
        planned.release()


def test_a_column_named_like_a_pipeline_column_reaches_the_frame_renamed(spark):
    op = {"type": "string", "optional": True, "field": "_op"}
    records = [change([ID, op], {"id": 1, "_op": "mine"}, 10), change([ID, op], {"id": 2, "_op": None}, 20, op="u")]
    planned = plan_batch(kafka_rows(spark, records), 3, config_for("postgres"), registered={})
    try:
        [table] = planned.tables
        assert table.schema.columns == [Column("id", "bigint", False), Column("src_op", "string", True)]
        assert sorted((r["id"], r["src_op"], r["_op"]) for r in table.changes.collect()) == [(1, "mine", "c"), (2, None, "u")]
        assert planned.summary.dead_letters == 0
    finally:
        planned.release()


def test_a_nul_character_dead_letters_its_change_and_is_replaced_in_a_before_image(spark):
    import json
    nul_insert = change([ID, NAME], {"id": 1, "name": "a\x00b"}, 10)
    clean_update = synthetic([ID, NAME], {"id": 2, "name": "fixed"}, op="u", before={"id": 2, "name": "x\x00y"},
                             key={"id": 2}, source={"pos": 20, "row": 0})
    literal = change([ID, NAME], {"id": 3, "name": "back\\u0000slash"}, 30)  # the text, no NUL
    planned = plan_batch(kafka_rows(spark, [nul_insert, clean_update, literal]), 4, config_for("postgres"), registered={})
    try:
        assert planned.summary.counts()["dead_letters"] == 1
        [dead] = planned.dead_letters.collect()
        assert dead["error_kind"] == "unstorable_value" and dead["kafka_offset"] == 100
        assert "column(s) name hold a NUL character" in dead["reason"] and bytes(dead["kafka_value"]) == nul_insert["value"].encode()
        rows = {r["id"]: (r["name"], r["_before"]) for r in planned.tables[0].changes.collect()}
        assert rows[3] == ("back\\u0000slash", None)
        assert rows[2][0] == "fixed" and json.loads(rows[2][1])["name"] == "x\ufffdy"
    finally:
        planned.release()


def test_datetimes_before_year_1000_reach_the_frame_exactly(spark):
    """MySQL DATETIME/DATE accept years 1..999; their canonical strings must CAST back, never to NULL."""
    moment = {"type": "int64", "optional": True, "name": "io.debezium.time.Timestamp", "field": "at"}
    day = {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": "on"}
    values = [(1, -30610224000000 - 86_400_000, -365_000), (2, -62135596800000, -719162), (3, 0, 0)]  # 0999-12-31, 0001-01-01
    records = [change([ID, moment, day], {"id": i, "at": at, "on": on}, 10 * i) for i, at, on in values]
    planned = plan_batch(kafka_rows(spark, records), 1, config_for("postgres"), registered={})
    try:
        rows = {r["id"]: (r["at"], r["on"]) for r in planned.tables[0].changes.collect()}
        assert rows == {1: (datetime(999, 12, 31), date(970, 8, 31)), 2: (datetime(1, 1, 1), date(1, 1, 1)),
                        3: (datetime(1970, 1, 1), date(1970, 1, 1))}
    finally:
        planned.release()


def test_a_record_over_the_size_limit_is_a_dead_letter_with_its_size(spark):
    small = change([ID, NAME], {"id": 1, "name": "a"}, 10)
    large = change([ID, NAME], {"id": 2, "name": "x" * 5000}, 20)
    limit = len(small["value"].encode()) + 100
    planned = plan_batch(kafka_rows(spark, [small, large]), 2, config_for("postgres", max_record_bytes=limit), registered={})
    try:
        assert planned.summary.counts()["dead_letters"] == 1 and planned.summary.counts()["inserts"] == 1
        assert [r["id"] for r in planned.tables[0].changes.collect()] == [1]
        [dead] = planned.dead_letters.collect()
        assert dead["error_kind"] == "record_too_large" and bytes(dead["kafka_value"]) == large["value"].encode()
        assert f"value of {len(large['value'].encode())} bytes is larger than source.max_record_bytes ({limit})" in dead["reason"]
    finally:
        planned.release()
