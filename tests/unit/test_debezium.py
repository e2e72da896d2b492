"""Decoding Debezium change events: golden messages from our stack, and hand-made ones for every type
and every DecodeError kind."""
from __future__ import annotations

import json
import pickle
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cdc_pipeline.debezium import UNAVAILABLE_VALUE, ChangeEvent, Column, decode_record, image_to_json, key_columns_of
from cdc_pipeline.errors import DecodeError, PipelineError
from cdc_pipeline.ordering import change_sequence

from cdc_messages import (
    ACCOUNTS_TOPIC,
    TRANSACTIONS_TOPIC,
    b64,
    decimal_bytes,
    decode,
    golden,
    golden_record,
    image_field,
    mutate_key,
    mutate_value,
    synthetic,
)

UTC = timezone.utc
ACCOUNT_COLUMNS = (
    Column("id", "bigint", False),
    Column("user_id", "bigint", False),
    Column("account", "string", False),
    Column("balance", "decimal(18,2)", False),
    Column("created_at", "timestamp_ntz", False),
    Column("updated_at", "timestamp", False),
)


def seq(pos: int, row: int = 0, file_number: int = 1) -> int:
    return change_sequence(file_number, pos, row)


# --- golden messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", [ACCOUNTS_TOPIC, TRANSACTIONS_TOPIC])
def test_every_golden_message_decodes_to_its_table_and_coordinates(topic):
    records = golden(topic)
    assert records, "golden file is empty"
    for record in records:
        event = decode(record)
        value = json.loads(record["value"])
        source = value["payload"]["source"]
        assert event.table == f"bankdb.{topic.rsplit('.', 1)[1]}"
        assert event.op == value["payload"]["op"]
        assert (event.binlog_file, event.binlog_pos, event.binlog_row) == (source["file"], source["pos"], source["row"])
        assert event.seq == change_sequence(int(source["file"].rsplit(".", 1)[1]), source["pos"], source["row"])
        assert event.source_ts_ms == source["ts_ms"]
        assert (event.topic, event.partition, event.offset) == (record["topic"], record["partition"], record["offset"])
        assert event.key == json.loads(record["key"])["payload"]


def test_snapshot_row_of_bank_accounts_has_exact_values_and_schema():
    event = decode(golden_record(ACCOUNTS_TOPIC, 1, 0))
    assert event == ChangeEvent(
        table="bankdb.bank_accounts",
        op="r",
        seq=1_000_000_004_699_000_000,
        source_ts_ms=1795320301000,
        binlog_file="mysql-bin.000001",
        binlog_pos=4699,
        binlog_row=0,
        key={"id": 1},
        row={
            "id": 1,
            "user_id": 1001,
            "account": "KB Bank 110-234-567890",
            "balance": Decimal("1500000.00"),
            "created_at": datetime(2024, 1, 5, 9, 12),
            "updated_at": datetime(2026, 11, 22, 4, 4, 35, 799731, tzinfo=UTC),
        },
        before=None,
        columns=ACCOUNT_COLUMNS,
        topic=ACCOUNTS_TOPIC,
        partition=1,
        offset=0,
    )
    assert str(event.row["balance"]) == "1500000.00"  # the scale is kept, not just the value
    assert event.row["created_at"].tzinfo is None
    assert event.change_type == "SNAPSHOT"
    assert event.source_ts == datetime(2026, 11, 22, 4, 5, 1, tzinfo=UTC)


ID6_INSERTED = {
    "id": 6, "user_id": 1005, "account": "Test Bank 123-456-789", "balance": Decimal("0.00"),
    "created_at": datetime(2026, 11, 22, 4, 5, 12, 330218),
    "updated_at": datetime(2026, 11, 22, 4, 5, 12, 330218, tzinfo=UTC),
}
ID6_FIRST_UPDATE = {
    **ID6_INSERTED, "account": "Updated Bank 987-654-321", "balance": Decimal("12.34"),
    "updated_at": datetime(2026, 11, 22, 4, 5, 12, 331010, tzinfo=UTC),
}
ID6_LAST_UPDATE = {
    **ID6_FIRST_UPDATE, "balance": Decimal("14.34"),
    "updated_at": datetime(2026, 11, 22, 4, 5, 12, 332287, tzinfo=UTC),
}
ID2_SNAPSHOT = {
    "id": 2, "user_id": 1001, "account": "Shinhan 100-029-384756", "balance": Decimal("25000.50"),
    "created_at": datetime(2024, 2, 11, 14, 3, 21, 500000),
    "updated_at": datetime(2026, 11, 22, 4, 4, 35, 799731, tzinfo=UTC),
}


@pytest.mark.parametrize(
    "op, offset, key, row, before, pos",
    [
        ("r", 0, 2, ID2_SNAPSHOT, None, 4699),
        ("c", 3, 6, ID6_INSERTED, None, 4916),
        ("u", 4, 6, ID6_FIRST_UPDATE, ID6_INSERTED, 5267),
        ("d", 7, 6, ID6_LAST_UPDATE, ID6_LAST_UPDATE, 6334),
    ],
)
def test_golden_ops_take_row_and_before_from_the_right_image(op, offset, key, row, before, pos):
    event = decode(golden_record(ACCOUNTS_TOPIC, 0, offset))
    assert event.op == op
    assert event.key == {"id": key}
    assert event.row == row
    assert event.before == before
    assert event.seq == seq(pos)
    assert event.columns == ACCOUNT_COLUMNS


def test_update_images_differ_so_the_test_above_proves_which_image_is_which():
    assert ID6_INSERTED != ID6_FIRST_UPDATE
    event = decode(golden_record(ACCOUNTS_TOPIC, 0, 4))
    assert event.row["balance"] == Decimal("12.34") and event.before["balance"] == Decimal("0.00")


@pytest.mark.parametrize("op", ["r", "c", "u", "d"])
def test_hand_made_ops_use_after_for_rcu_and_before_for_d(op):
    fields = [{"type": "int64", "optional": False, "field": "id"}, {"type": "string", "optional": True, "field": "v"}]
    old, new = {"id": 9, "v": "old"}, {"id": 9, "v": "new"}
    after = None if op == "d" else new
    before = None if op in ("r", "c") else old
    event = decode(synthetic(fields, after, op=op, before=before, key={"id": 9}))
    assert event.op == op
    assert event.row == (old if op == "d" else new)
    assert event.before == (old if op in ("u", "d") else None)
    assert event.key == {"id": 9}
    assert event.table == "shop.things"
    assert event.seq == change_sequence(7, 1234, 2)


def test_create_with_a_before_image_still_has_no_before():
    fields = [{"type": "int64", "optional": False, "field": "id"}]
    event = decode(synthetic(fields, {"id": 1}, op="c", before={"id": 0}, key={"id": 1}))
    assert event.before is None and event.row == {"id": 1}


def test_update_without_before_image_is_tolerated():
    fields = [{"type": "int64", "optional": False, "field": "id"}]
    event = decode(synthetic(fields, {"id": 1}, op="u", before=None, key={"id": 1}))
    assert event.op == "u" and event.before is None and event.row == {"id": 1}


def test_transactions_golden_types():
    by_id = {decode(r).key["id"]: decode(r) for r in golden(TRANSACTIONS_TOPIC)}
    assert by_id[3].row == {
        "id": 3, "account_id": 2, "amount": Decimal("-25000.50"), "txn_type": "WITHDRAWAL", "description": "ATM",
        "booking_date": date(2024, 6, 2), "occurred_at": datetime(2024, 6, 2, 18, 20), "is_reversal": 0,
    }
    assert by_id[2].row["occurred_at"] == datetime(2024, 5, 31, 23, 59, 59, 999000)
    assert by_id[2].row["amount"] == Decimal("-12000.00")
    assert by_id[4].row["description"] is None
    assert by_id[5].row["is_reversal"] == 1
    assert [(c.name, c.type, c.nullable) for c in by_id[1].columns] == [
        ("id", "bigint", False), ("account_id", "bigint", False), ("amount", "decimal(18,2)", False),
        ("txn_type", "string", False), ("description", "string", True), ("booking_date", "date", False),
        ("occurred_at", "timestamp_ntz", False), ("is_reversal", "smallint", False),
    ]


def test_snapshot_rows_share_one_sequence():
    snapshot = [decode(r) for r in golden(ACCOUNTS_TOPIC) if json.loads(r["value"])["payload"]["op"] == "r"]
    assert len(snapshot) == 5 and {e.seq for e in snapshot} == {seq(4699)}


# --- tombstones and input types -----------------------------------------------------------------------


def test_tombstone_is_none():
    assert decode_record(ACCOUNTS_TOPIC, 0, 8, b'{"schema":null,"payload":{"id":6}}', None) is None
    assert decode_record(ACCOUNTS_TOPIC, 0, 8, None, None, key_columns=("id",)) is None


@pytest.mark.parametrize("value", [b"", "", bytearray()])
def test_an_empty_value_is_not_a_tombstone(value):
    with pytest.raises(DecodeError) as raised:
        decode_record(ACCOUNTS_TOPIC, 0, 8, b'{"schema":null,"payload":{"id":6}}', value)
    assert raised.value.kind == "empty_value" and "tombstone as a null value" in raised.value.reason


@pytest.mark.parametrize("wrap", [str, bytearray, memoryview])
def test_value_as_str_bytearray_or_memoryview(wrap):
    record = golden_record(ACCOUNTS_TOPIC, 0, 4)
    raw = record["value"] if wrap is str else wrap(record["value"].encode())
    event = decode_record(ACCOUNTS_TOPIC, 0, 4, record["key"].encode(), raw)
    assert event.row == ID6_FIRST_UPDATE


# --- every logical type -------------------------------------------------------------------------------

TYPE_CASES = [
    # (field schema without "field", JSON value, expected Python value, expected Spark type)
    ({"type": "boolean"}, True, True, "boolean"),
    ({"type": "int8"}, -128, -128, "tinyint"),
    ({"type": "int16"}, 32767, 32767, "smallint"),
    ({"type": "int32"}, -2147483648, -2147483648, "int"),
    ({"type": "int64"}, 9223372036854775807, 9223372036854775807, "bigint"),
    ({"type": "float32"}, 1.5, 1.5, "float"),
    ({"type": "float64"}, 0.1, 0.1, "double"),
    ({"type": "float64"}, 3, 3.0, "double"),
    ({"type": "string"}, "héllo", "héllo", "string"),
    ({"type": "bytes"}, b64(b"\x00\xffab"), b"\x00\xffab", "binary"),
    # decimal.handling.mode=string and =double
    ({"type": "string"}, "1234.5600", "1234.5600", "string"),
    ({"type": "float64"}, 1234.56, 1234.56, "double"),
    ({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
      "parameters": {"scale": "2", "connect.decimal.precision": "18"}}, decimal_bytes(-12345), Decimal("-123.45"), "decimal(18,2)"),
    ({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
      "parameters": {"scale": "0"}}, decimal_bytes(7), Decimal("7"), "decimal(38,0)"),
    ({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
      "parameters": {"scale": "30", "connect.decimal.precision": "65"}}, decimal_bytes(10**30), Decimal("1." + "0" * 30), "decimal(38,30)"),
    ({"type": "int32", "name": "io.debezium.time.Date"}, 19876, date(2024, 6, 2), "date"),
    ({"type": "int32", "name": "io.debezium.time.Date"}, -1, date(1969, 12, 31), "date"),
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Date"}, 0, date(1970, 1, 1), "date"),
    ({"type": "int64", "name": "io.debezium.time.Timestamp"}, 1717199999999, datetime(2024, 5, 31, 23, 59, 59, 999000), "timestamp_ntz"),
    ({"type": "int64", "name": "io.debezium.time.MicroTimestamp"}, 1704445920000001, datetime(2024, 1, 5, 9, 12, 0, 1), "timestamp_ntz"),
    ({"type": "int64", "name": "io.debezium.time.MicroTimestamp"}, -1, datetime(1969, 12, 31, 23, 59, 59, 999999), "timestamp_ntz"),
    ({"type": "int64", "name": "io.debezium.time.NanoTimestamp"}, 1704445920123456789, datetime(2024, 1, 5, 9, 12, 0, 123456), "timestamp_ntz"),
    ({"type": "int64", "name": "io.debezium.time.NanoTimestamp"}, -1, datetime(1969, 12, 31, 23, 59, 59, 999999), "timestamp_ntz"),
    ({"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"}, 1000, datetime(1970, 1, 1, 0, 0, 1), "timestamp_ntz"),
    ({"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, "2026-11-22T04:04:35.799731Z",
     datetime(2026, 11, 22, 4, 4, 35, 799731, tzinfo=UTC), "timestamp"),
    ({"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, "2026-11-22T04:04:35Z",
     datetime(2026, 11, 22, 4, 4, 35, tzinfo=UTC), "timestamp"),
    ({"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, "2026-11-22T13:04:35.5+09:00",
     datetime(2026, 11, 22, 4, 4, 35, 500000, tzinfo=UTC), "timestamp"),
    ({"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, "2026-11-22T04:04:35.123456789Z",
     datetime(2026, 11, 22, 4, 4, 35, 123456, tzinfo=UTC), "timestamp"),
    ({"type": "int32", "name": "io.debezium.time.Time"}, 45_296_789, "12:34:56.789000", "string"),
    ({"type": "int64", "name": "io.debezium.time.MicroTime"}, 3_020_399_000_000, "838:59:59.000000", "string"),
    ({"type": "int64", "name": "io.debezium.time.MicroTime"}, -1, "-00:00:00.000001", "string"),
    ({"type": "int64", "name": "io.debezium.time.NanoTime"}, 1_000_001_999, "00:00:01.000001", "string"),
    ({"type": "int32", "name": "io.debezium.time.Year"}, 2024, 2024, "int"),
    ({"type": "string", "name": "io.debezium.data.Json"}, '{"a": [1, 2]}', '{"a": [1, 2]}', "string"),
    ({"type": "string", "name": "io.debezium.data.Enum", "parameters": {"allowed": "A,B"}}, "B", "B", "string"),
    ({"type": "string", "name": "io.debezium.data.EnumSet"}, "A,B", "A,B", "string"),
    ({"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "3"}}, b64(b"\x05"), b"\x05", "binary"),
    ({"type": "string", "name": "io.debezium.data.Uuid"}, "6f1c", "6f1c", "string"),  # unknown name: primitive
]


@pytest.mark.parametrize("schema, raw, expected, spark_type", TYPE_CASES, ids=[f"{c[0].get('name', c[0]['type'])}-{i}" for i, c in enumerate(TYPE_CASES)])
def test_each_logical_type_decodes_exactly(schema, raw, expected, spark_type):
    fields = [{"type": "int64", "optional": False, "field": "id"}, {**schema, "optional": False, "field": "v"}]
    event = decode(synthetic(fields, {"id": 1, "v": raw}, key={"id": 1}))
    value = event.row["v"]
    assert value == expected and type(value) is type(expected)
    if isinstance(expected, datetime):
        assert value.tzinfo == expected.tzinfo
    if isinstance(expected, Decimal):
        assert value.as_tuple() == expected.as_tuple()  # same digits AND scale
    assert event.columns[1] == Column("v", spark_type, False)


def test_38_digit_decimal_is_exact():
    unscaled = -12345678901234567890123456789012345678
    field = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "optional": False, "field": "v",
             "parameters": {"scale": "10", "connect.decimal.precision": "38"}}
    event = decode(synthetic([{"type": "int64", "optional": False, "field": "id"}, field],
                             {"id": 1, "v": decimal_bytes(unscaled)}, key={"id": 1}))
    assert event.row["v"] == Decimal("-1234567890123456789012345678.9012345678")


def test_decimal_as_json_number_is_exact_and_rescaled():
    field = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "optional": False, "field": "v",
             "parameters": {"scale": "2", "connect.decimal.precision": "20"}}
    record = synthetic([{"type": "int64", "optional": False, "field": "id"}, field], {"id": 1, "v": 0}, key={"id": 1})
    record["value"] = record["value"].replace('"v": 0', '"v": 12345678901234567.8')
    value = decode(record).row["v"]
    assert value.as_tuple() == Decimal("12345678901234567.80").as_tuple()


def test_optional_null_and_missing_fields_are_none():
    fields = [{"type": "int64", "optional": False, "field": "id"},
              {"type": "string", "optional": True, "field": "a"},
              {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": "b"}]
    event = decode(synthetic(fields, {"id": 1, "a": None}, key={"id": 1}))
    assert event.row == {"id": 1, "a": None, "b": None}
    assert [c.nullable for c in event.columns] == [False, True, True]


def test_float_nan_written_as_string_by_jackson():
    fields = [{"type": "int64", "optional": False, "field": "id"}, {"type": "float64", "optional": False, "field": "v"}]
    value = decode(synthetic(fields, {"id": 1, "v": "NaN"}, key={"id": 1})).row["v"]
    assert value != value


# --- keys ---------------------------------------------------------------------------------------------


def test_configured_key_columns_agree_with_the_kafka_key():
    event = decode(golden_record(ACCOUNTS_TOPIC, 0, 7), key_columns=("id",))
    assert event.key == {"id": 6} and key_columns_of(event) == ("id",) and event.key_columns == ("id",)


def test_without_kafka_key_the_key_comes_from_the_row_image():
    record = {**golden_record(ACCOUNTS_TOPIC, 0, 7), "key": None}  # a delete: the key is in the before image
    assert decode(record, key_columns=["id"]).key == {"id": 6}
    fields = [{"type": "int64", "optional": False, "field": "a"}, {"type": "string", "optional": False, "field": "b"},
              {"type": "string", "optional": True, "field": "c"}]
    event = decode(synthetic(fields, {"a": 1, "b": "x", "c": "y"}), key_columns=("b", "a"))
    assert list(event.key.items()) == [("b", "x"), ("a", 1)]


def test_composite_kafka_key_keeps_its_order():
    fields = [{"type": "int64", "optional": False, "field": "a"}, {"type": "string", "optional": False, "field": "b"}]
    key_fields = [{"type": "string", "optional": False, "field": "b"}, {"type": "int64", "optional": False, "field": "a"}]
    event = decode(synthetic(fields, {"a": 1, "b": "x"}, key={"b": "x", "a": 1}, key_fields=key_fields))
    assert list(event.key.items()) == [("b", "x"), ("a", 1)]


def test_key_columns_must_be_a_sequence_of_names():
    record = golden_record(ACCOUNTS_TOPIC, 0, 7)
    for bad in ("id", ()):
        with pytest.raises(ValueError):
            decode(record, key_columns=bad)


# --- every DecodeError kind ---------------------------------------------------------------------------

INT_FIELDS = [{"type": "int64", "optional": False, "field": "id"},
              {"type": "int16", "optional": False, "field": "small"},
              {"type": "string", "optional": True, "field": "note"}]
GOOD = {"id": 1, "small": 2, "note": "n"}


def _set_source(**values):
    def change(doc):
        for name, value in values.items():
            if value is KeyError:
                doc["payload"]["source"].pop(name)
            else:
                doc["payload"]["source"][name] = value
    return change


def _set_after(name, value):
    def change(doc):
        doc["payload"]["after"][name] = value
    return change


def _set_field_schema(image, name, **schema):
    def change(doc):
        for img in ("before", "after") if image == "both" else (image,):
            image_field(doc, img, name).update(schema)
    return change


def _add_key_field(name, value):
    def change(doc):
        doc["schema"]["fields"].append({"type": "int64", "optional": False, "field": name})
        doc["payload"][name] = value
    return change


U4 = golden_record(ACCOUNTS_TOPIC, 0, 4)  # an update of id 6
D7 = golden_record(ACCOUNTS_TOPIC, 0, 7)  # the delete of id 6


ERROR_CASES = [
    # (id, record, decode kwargs, kind, words the reason must contain)
    ("truncated json", {**U4, "value": U4["value"][:-5]}, {}, "malformed_json", ["not valid JSON"]),
    ("empty value", {**U4, "value": ""}, {}, "empty_value", ["0 bytes", "null"]),
    ("not utf-8", b'{"payload": "\xff\xfe"}', {}, "malformed_json", ["not UTF-8", "byte 13"]),
    ("malformed key", {**U4, "key": '{"schema":'}, {}, "malformed_json", ["key"]),
    ("json array", {**U4, "value": "[1, 2, 3]"}, {}, "not_an_envelope", ["schema and payload"]),
    ("null payload", {**U4, "value": '{"schema": {}, "payload": null}'}, {}, "not_an_envelope", ["payload"]),
    ("no op", mutate_value(U4, lambda d: d["payload"].pop("op")), {}, "not_an_envelope", ["op"]),
    ("no source", mutate_value(U4, lambda d: d["payload"].pop("source")), {}, "not_an_envelope", ["source"]),
    ("no schema", mutate_value(U4, lambda d: d.pop("schema")), {}, "not_an_envelope", ["schemas.enable"]),
    ("update without after", mutate_value(U4, lambda d: d["payload"].update(after=None)), {}, "not_an_envelope", ["'after'"]),
    ("delete without before", mutate_value(D7, lambda d: d["payload"].update(before=None)), {}, "not_an_envelope", ["'before'"]),
    ("no source.db", mutate_value(U4, _set_source(db=KeyError)), {}, "not_an_envelope", ["source.db"]),
    ("empty source.table", mutate_value(U4, _set_source(table="")), {}, "not_an_envelope", ["source.table"]),
    ("no source.ts_ms", mutate_value(U4, _set_source(ts_ms=None)), {}, "not_an_envelope", ["source.ts_ms"]),
    ("truncate op", mutate_value(U4, lambda d: d["payload"].update(op="t", before=None, after=None)), {}, "truncate",
     ["bankdb.bank_accounts", "TRUNCATE TABLE", "not applied", "re-snapshot"]),
    ("truncate without source.table", mutate_value(U4, lambda d: (d["payload"].update(op="t"), d["payload"]["source"].pop("table"))),
     {}, "not_an_envelope", ["source.table"]),
    ("message op", mutate_value(U4, lambda d: d["payload"].update(op="m")), {}, "unknown_op", ["'m'"]),
    ("numeric op", mutate_value(U4, lambda d: d["payload"].update(op=1)), {}, "unknown_op", ["1"]),
    ("no key at all", synthetic(INT_FIELDS, GOOD), {}, "missing_key", ["no Kafka key"]),
    ("key column not in row", synthetic(INT_FIELDS, GOOD), {"key_columns": ("nope",)}, "missing_key", ["nope"]),
    ("null key value", synthetic(INT_FIELDS, {**GOOD, "note": None}), {"key_columns": ("note",)}, "missing_key", ["note", "null"]),
    ("null in kafka key", synthetic(INT_FIELDS, GOOD, key={"note": None},
                                   key_fields=[{"type": "string", "optional": True, "field": "note"}]), {}, "missing_key", ["note"]),
    ("kafka key disagrees", mutate_key(U4, lambda d: d["payload"].update(id=7)), {}, "missing_key", ["id=7", "id=6"]),
    ("kafka key disagrees with config", mutate_key(U4, lambda d: d["payload"].update(id=7)), {"key_columns": ("id",)}, "missing_key", ["id=7"]),
    ("string for int64", mutate_value(U4, _set_after("user_id", "1005")), {}, "type_mismatch",
     ["bankdb.bank_accounts.user_id", "int64", "'1005'"]),
    ("bool for int64", mutate_value(U4, _set_after("user_id", True)), {}, "type_mismatch", ["user_id", "True"]),
    ("int16 out of range", synthetic(INT_FIELDS, {**GOOD, "small": 40000}, key={"id": 1}), {}, "type_mismatch",
     ["shop.things.small", "[-32768, 32767]", "40000"]),
    ("bad base64 decimal", mutate_value(U4, _set_after("balance", "!!notbase64")), {}, "type_mismatch", ["balance", "base64"]),
    ("empty decimal bytes", mutate_value(U4, _set_after("balance", "")), {}, "type_mismatch", ["balance"]),
    ("decimal too wide", mutate_value(U4, _set_after("balance", decimal_bytes(10**18))), {}, "type_mismatch",
     ["balance", "decimal(18,2)", "18 digits"]),
    ("bad zoned timestamp", mutate_value(U4, _set_after("updated_at", "22/11/2026 04:04")), {}, "type_mismatch",
     ["updated_at", "ISO-8601", "22/11/2026"]),
    ("impossible zoned timestamp", mutate_value(U4, _set_after("updated_at", "2026-02-30T00:00:00Z")), {}, "type_mismatch",
     ["updated_at"]),
    ("timestamp out of range", mutate_value(U4, _set_after("created_at", 10**18)), {}, "type_mismatch", ["created_at"]),
    ("null in required column", mutate_value(U4, _set_after("account", None)), {}, "type_mismatch",
     ["bankdb.bank_accounts.account", "non-null", "null"]),
    ("placeholder string", mutate_value(U4, _set_after("account", UNAVAILABLE_VALUE)), {}, "type_mismatch",
     ["account", UNAVAILABLE_VALUE, "not captured"]),
    ("placeholder bytes", mutate_value(U4, _set_after("balance", b64(UNAVAILABLE_VALUE.encode()))), {}, "type_mismatch",
     ["balance", "not captured"]),
    ("placeholder in before", mutate_value(U4, lambda d: d["payload"]["before"].update(account=UNAVAILABLE_VALUE)), {},
     "type_mismatch", ["before", "account"]),
    ("int for boolean", synthetic([{"type": "int64", "optional": False, "field": "id"},
                                   {"type": "boolean", "optional": False, "field": "flag"}], {"id": 1, "flag": 1}, key={"id": 1}),
     {}, "type_mismatch", ["flag", "boolean"]),
    ("string ts_ms", mutate_value(U4, _set_source(ts_ms="yesterday")), {}, "type_mismatch", ["source.ts_ms"]),
    ("struct column", mutate_value(U4, _set_field_schema("after", "account", type="struct", fields=[])), {}, "schema_incompatible",
     ["account", "struct"]),
    ("decimal without scale", mutate_value(U4, _set_field_schema("after", "balance", parameters={})), {}, "schema_incompatible",
     ["balance", "scale"]),
    ("unknown primitive", mutate_value(U4, _set_field_schema("after", "account", type="text")), {}, "schema_incompatible",
     ["account", "'text'"]),
    ("field not in schema", mutate_value(U4, _set_after("surprise", 1)), {}, "schema_incompatible", ["surprise"]),
    ("kafka key columns differ from config", mutate_key(U4, _add_key_field("user_id", 1005)), {"key_columns": ("id",)},
     "schema_incompatible", ["user_id", "configured"]),
    ("kafka key column not in row", synthetic(INT_FIELDS, GOOD, key={"other": 1}), {}, "schema_incompatible", ["other"]),
    ("no source.file", mutate_value(U4, _set_source(file=KeyError)), {}, "missing_source_position", ["source.file"]),
    ("null source.file", mutate_value(U4, _set_source(file=None)), {}, "missing_source_position", ["source.file"]),
    ("no source.pos", mutate_value(U4, _set_source(pos=KeyError)), {}, "missing_source_position", ["source.pos"]),
    ("string source.pos", mutate_value(U4, _set_source(pos="5267")), {}, "missing_source_position", ["source.pos"]),
    ("no source.row", mutate_value(U4, _set_source(row=None)), {}, "missing_source_position", ["source.row"]),
    ("file without number", mutate_value(U4, _set_source(file="mysql-bin")), {}, "missing_source_position", ["mysql-bin"]),
    ("pos too large", mutate_value(U4, _set_source(pos=10**12)), {}, "missing_source_position", ["binlog position"]),
]


@pytest.mark.parametrize("record, kwargs, kind, words", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_invalid_records_raise_decode_error_of_the_right_kind(record, kwargs, kind, words):
    if isinstance(record, bytes):  # a raw value that is not UTF-8
        call = lambda: decode_record(ACCOUNTS_TOPIC, 0, 1, None, record, **kwargs)  # noqa: E731
    else:
        call = lambda: decode(record, **kwargs)  # noqa: E731
    with pytest.raises(DecodeError) as caught:
        call()
    error = caught.value
    assert error.kind == kind, error.reason
    for word in words:
        assert word in error.reason, (word, error.reason)
    assert str(error) == f"{kind}: {error.reason}"
    assert isinstance(error, PipelineError)


def test_every_decode_error_kind_is_exercised():
    assert {c[3] for c in ERROR_CASES} == DecodeError.KINDS


def test_golden_messages_are_valid_before_mutation():
    """The error cases mutate these; unmutated they must decode, or the cases would prove nothing."""
    assert decode(U4).op == "u" and decode(D7).op == "d"
    assert decode(synthetic(INT_FIELDS, GOOD, key={"id": 1})).row == GOOD


def test_decode_error_checks_its_kind_and_pickles():
    with pytest.raises(ValueError):
        DecodeError("bogus", "x")
    error = pickle.loads(pickle.dumps(DecodeError("missing_key", "no key")))
    assert (error.kind, error.reason) == ("missing_key", "no key")


# --- JSON of an image (the `_before` column) ----------------------------------------------------------


def test_image_to_json_is_exact():
    event = decode(U4)
    text = event.before_json()
    assert text == (
        '{"id":6,"user_id":1005,"account":"Test Bank 123-456-789","balance":0.00,'
        '"created_at":"2026-11-22T04:05:12.330218","updated_at":"2026-11-22T04:05:12.330218Z"}'
    )
    assert json.loads(text, parse_float=Decimal)["balance"].as_tuple() == Decimal("0.00").as_tuple()


def test_image_to_json_other_types():
    text = image_to_json({"b": b"\x00\x01", "d": date(2024, 6, 2), "n": None, "t": True, "f": float("inf"),
                          "z": datetime(2024, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))), "s": 'q"é'})
    assert json.loads(text) == {"b": "AAE=", "d": "2024-06-02", "n": None, "t": True, "f": "inf",
                                "z": "2024-01-01T00:00:00.000000Z", "s": 'q"é'}
    assert decode(golden_record(ACCOUNTS_TOPIC, 0, 3)).before_json() is None
