"""Metadata columns and a change event as one staging row."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cdc_pipeline.debezium import Column
from cdc_pipeline.errors import SchemaError
from cdc_pipeline.vocabulary import METADATA_COLUMNS, check_source_columns, sink_column_name, staging_row

from cdc_messages import ACCOUNTS_TOPIC, decode, golden_record

BRIEF_ORDER = ["_op", "_seq", "_source_ts", "_binlog_file", "_binlog_pos", "_binlog_row", "_kafka_topic",
               "_kafka_partition", "_kafka_offset", "_batch_id", "_before"]


def test_metadata_columns_are_listed_once_in_order():
    assert [c.name for c in METADATA_COLUMNS] == BRIEF_ORDER
    assert {c.name: c.type for c in METADATA_COLUMNS}["_seq"] == "decimal(38,0)"


def test_staging_row_of_an_update():
    event = decode(golden_record(ACCOUNTS_TOPIC, 0, 4))
    row = staging_row(event, 12)
    assert list(row) == [c.name for c in event.columns] + BRIEF_ORDER
    assert row["balance"] == Decimal("12.34") and row["account"] == "Updated Bank 987-654-321"
    assert row["_op"] == "u" and row["_seq"] == Decimal(1_000_000_005_267_000_000) and isinstance(row["_seq"], Decimal)
    assert row["_source_ts"] == datetime(2026, 11, 22, 4, 5, 12, tzinfo=timezone.utc)
    assert (row["_binlog_file"], row["_binlog_pos"], row["_binlog_row"]) == ("mysql-bin.000001", 5267, 0)
    assert (row["_kafka_topic"], row["_kafka_partition"], row["_kafka_offset"], row["_batch_id"]) == (ACCOUNTS_TOPIC, 0, 4, 12)
    assert json.loads(row["_before"], parse_float=Decimal)["balance"] == Decimal("0.00")


def test_staging_row_of_an_insert_has_no_before_and_needs_kafka_coordinates():
    event = decode(golden_record(ACCOUNTS_TOPIC, 0, 3))
    assert staging_row(event, 0)["_before"] is None
    with pytest.raises(ValueError, match="Kafka coordinates"):
        staging_row(dataclasses.replace(event, offset=None), 0)


def test_source_columns_may_not_take_metadata_names():
    check_source_columns([Column("id", "bigint", False), Column("op", "string", True)])
    for name in BRIEF_ORDER + ["_history_id", "_change_type", "_loaded_at"]:
        with pytest.raises(SchemaError, match=repr(name)):
            check_source_columns([Column("id", "bigint", False), Column(name, "string", True)])
    with pytest.raises(SchemaError, match="twice"):
        check_source_columns([Column("id", "bigint", False), Column("id", "bigint", False)])


def test_a_source_column_named_like_a_pipeline_column_gets_the_prefix():
    assert [sink_column_name(n) for n in ("id", "op", "_op", "_SEQ", "_key", "_rank", "_loaded_at", "src_op")] == \
        ["id", "op", "src_op", "src_SEQ", "src_key", "src_rank", "src_loaded_at", "src_op"]
    check_source_columns([Column(sink_column_name(n), "string", True) for n in BRIEF_ORDER])


def test_a_name_longer_than_postgresql_identifiers_is_shortened_with_a_hash():
    long_a, long_b = "é" * 32, "é" * 31 + "e"  # 64 and 63 bytes
    assert sink_column_name(long_b) == long_b
    short = sink_column_name(long_a)
    assert len(short.encode("utf-8")) <= 63 and short.startswith("é" * 26) and short[-9] == "_"
    assert sink_column_name(long_a) == short  # deterministic
    prefix = "c" * 60
    assert sink_column_name(prefix + "_one") != sink_column_name(prefix + "_two")
    assert all(len(sink_column_name(n).encode()) <= 63 for n in ("x" * 64, "_seq" + "y" * 60, "ü" * 64))


def test_versions_view_columns_keep_clear_of_the_views_own():
    from cdc_pipeline.vocabulary import versions_view_columns
    assert versions_view_columns(["id", "Valid_From", "is_current", "balance", "_SEQ"]) == [
        ("id", "id"), ("Valid_From", "src_Valid_From"), ("is_current", "src_is_current"), ("balance", "balance"),
        ("_SEQ", "src__SEQ")]


def test_versions_select_windows_each_key_by_the_change_order():
    from cdc_pipeline.vocabulary import versions_select
    text = versions_select("h", ["id", "valid_to"], ["id"], lambda n: f"[{n}]")
    assert text.splitlines() == [
        "SELECT [valid_from], [valid_to], [valid_to] IS NULL AS [is_current], [opened_by], [_seq], [id], [src_valid_to]",
        "FROM (SELECT [_source_ts] AS [valid_from], LEAD([_source_ts]) OVER (PARTITION BY [id] ORDER BY [_seq], "
        "[_kafka_offset]) AS [valid_to], [_op] AS [opened_by], [_seq], [id], [valid_to] AS [src_valid_to]",
        "      FROM h) v",
        "WHERE [opened_by] <> 'd'"]
