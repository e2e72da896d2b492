"""Batch planning without Spark: executor-side decoding into the generic row, and the driver summary."""
import json
from datetime import date, datetime, timezone, timedelta
from decimal import Decimal

import pytest

from cdc_messages import ACCOUNTS_TOPIC, TRANSACTIONS_TOPIC, encode, golden
from cdc_pipeline.batch import (DECODED_SCHEMA, KIND_CHANGE, KIND_ERROR, KIND_TOMBSTONE, canonical_string,
                                columns_from_json, decode_partition, summarize)
from cdc_pipeline.debezium import Column

KEYS = {ACCOUNTS_TOPIC: ("id",), TRANSACTIONS_TOPIC: ("id",)}
FIELDS = [f.strip().split(" ")[0] for f in DECODED_SCHEMA.replace("decimal(38,0)", "decimal").split(", ")]


def kafka_row(record, topic=None):
    return {"topic": topic or record["topic"], "partition": record["partition"], "offset": record["offset"],
            "key": encode(record["key"]), "value": encode(record["value"]),
            "timestamp": datetime(2026, 1, 1)}


def decoded(records, **kw):
    return [dict(zip(FIELDS, row)) for row in decode_partition([kafka_row(r, **kw) for r in records], KEYS)]


@pytest.mark.parametrize("value, expected", [
    (None, None), (True, "true"), (False, "false"), (Decimal("-0.50"), "-0.50"), (Decimal("1E+3"), "1000"),
    (datetime(2024, 1, 5, 9, 12, 0, 7), "2024-01-05 09:12:00.000007"),
    (datetime(2024, 1, 5, 9, 12, tzinfo=timezone(timedelta(hours=9))), "2024-01-05 00:12:00.000000+00:00"),
    (date(2024, 2, 29), "2024-02-29"), (b"\x00\xff", "AP8="), (12, "12"), (1.5, "1.5"), ("text", "text"),
    (datetime(999, 5, 5, 1, 2, 3), "0999-05-05 01:02:03.000000"), (datetime(1, 1, 1), "0001-01-01 00:00:00.000000"),
    (datetime(12, 3, 4, tzinfo=timezone.utc), "0012-03-04 00:00:00.000000+00:00"), (date(5, 1, 1), "0005-01-01"),
])
def test_canonical_string_is_what_a_spark_cast_reads_back(value, expected):
    assert canonical_string(value) == expected


def test_every_tuple_matches_the_declared_schema():
    rows = list(decode_partition([kafka_row(r) for r in golden(ACCOUNTS_TOPIC)], KEYS))
    assert rows and all(len(row) == len(FIELDS) for row in rows)


def test_changes_carry_the_row_image_as_canonical_strings():
    rows = [r for r in decoded(golden(ACCOUNTS_TOPIC)) if r["_kind"] == KIND_CHANGE]
    first = next(r for r in rows if r["_op"] == "r" and r["_values"]["id"] == "1")
    assert first["_values"]["balance"] == "1500000.00"
    assert first["_values"]["created_at"] == "2024-01-05 09:12:00.000000"
    assert first["_values"]["updated_at"].endswith("+00:00")
    assert json.loads(first["_key"]) == ["1"]
    assert first["_seq"] > 0 and first["_binlog_file"].startswith("mysql-bin.")
    names = [c.name for c in columns_from_json(first["_columns"])]
    assert names == ["id", "user_id", "account", "balance", "created_at", "updated_at"]


def test_a_delete_keeps_the_deleted_row_and_its_before_image():
    delete = next(r for r in decoded(golden(ACCOUNTS_TOPIC)) if r["_op"] == "d")
    assert delete["_values"]["id"] == json.loads(delete["_key"])[0]
    assert json.loads(delete["_before"])["id"] == int(delete["_values"]["id"])


def test_tombstones_are_counted_not_applied():
    delete = next(r for r in golden(ACCOUNTS_TOPIC) if '"op":"d"' in r["value"].replace(" ", ""))
    tombstone = dict(delete, offset=delete["offset"] + 1, value=None)
    rows = decoded([delete, tombstone])
    assert [r["_kind"] for r in rows] == [KIND_CHANGE, KIND_TOMBSTONE]
    assert rows[1]["_values"] is None and rows[1]["_kafka_offset"] == tombstone["offset"]


def test_undecodable_and_unconfigured_records_become_errors_with_raw_bytes():
    record = dict(golden(ACCOUNTS_TOPIC)[0], value='{"payload": ')
    [row] = decoded([record])
    assert row["_kind"] == KIND_ERROR and row["_error_kind"] == "malformed_json"
    assert row["_raw_value"] == b'{"payload": ' and row["_error_reason"]
    [row] = decoded([golden(ACCOUNTS_TOPIC)[0]], topic="oltp.bankdb.unknown")
    assert (row["_kind"], row["_error_kind"]) == (KIND_ERROR, "unconfigured_topic")
    assert "oltp.bankdb.unknown" in row["_error_reason"]


def test_summary_counts_ops_and_collects_distinct_column_sets():
    cols_a = json.dumps([["id", "bigint", False]])
    cols_b = json.dumps([["id", "bigint", False], ["x", "string", True]])
    summary = summarize([(KIND_CHANGE, "t", "c", cols_a, 3), (KIND_CHANGE, "t", "u", cols_a, 2),
                         (KIND_CHANGE, "t", "d", cols_b, 1), (KIND_TOMBSTONE, None, None, None, 1),
                         (KIND_ERROR, None, None, None, 4)])
    assert summary.counts() == {"rows_in": 11, "snapshots": 0, "inserts": 3, "updates": 2, "deletes": 1,
                                "tombstones": 1, "dead_letters": 4}
    assert summary.column_sets["t"] == [(Column("id", "bigint", False),),
                                        (Column("id", "bigint", False), Column("x", "string", True))]
