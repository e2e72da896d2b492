"""The JVM decoder (java/debezium-decoder, cdc_pipeline.jvm_decode) against the Python one (batch.decode_batch
= decode_partition + debezium.decode_record): both run on the same Kafka rows in a local[1] Spark session
and every field of every row must be equal, raw bytes and reason texts included.

Inputs: the golden and hand-made messages of test_debezium / cdc_messages (their builders and case
tables, not copies), tests/data/*.json, and a few thousand random events over every type of the
debezium module doc, valid and broken (seed: CDC_JVM_DECODE_SEED, printed on failure).

Needs jars/spark/cdc-debezium-decoder.jar (`python -m stack jars`), no stack.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import random
import struct
from decimal import Decimal

import pytest

import test_debezium as td
from cdc_messages import (ACCOUNTS_TOPIC, DATA, TRANSACTIONS_TOPIC, b64, decimal_bytes, encode, golden, golden_record,
                          mutate_value, synthetic)
from cdc_pipeline.batch import DECODED_SCHEMA, decode_batch
from cdc_pipeline.debezium import UNAVAILABLE_VALUE, decode_record
from cdc_pipeline.jvm_decode import decode_batch_jvm, key_columns_json

SEED = int(os.environ.get("CDC_JVM_DECODE_SEED", random.SystemRandom().randrange(2**32)))
RANDOM_EVENTS = int(os.environ.get("CDC_JVM_DECODE_EVENTS", "4000"))
INPUT_SCHEMA = "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp"
FIELDS = [f.split(" ")[0] for f in DECODED_SCHEMA.replace("decimal(38,0)", "decimal").split(", ")]
KAFKA_TS = dt.datetime(2026, 1, 1, 12, 30, 15, 123000)


# --- running both decoders ----------------------------------------------------------------------------


class Case:
    """One Kafka record and the key_columns its topic is configured with (or "unconfigured")."""

    def __init__(self, label, key, value, topic="t.shop.things", key_columns=None, partition=0, ts=KAFKA_TS):
        self.label, self.key, self.value, self.topic = label, _raw(key), _raw(value), topic
        self.key_columns, self.partition, self.ts = key_columns, partition, ts


def _raw(data):
    return data.encode("utf-8") if isinstance(data, str) else data


def record_case(label, record, key_columns=None, **kw):
    return Case(label, record["key"], record["value"], record.get("topic", "t.shop.things"), key_columns,
                partition=record.get("partition", 0), **kw)


UNCONFIGURED = object()


def run_both(spark, cases):
    """(python rows, jvm rows, cases), one row each per case, in case order. Each distinct key config gets
    its own topic name (`<topic>~<n>`), so one batch covers them all."""
    configs, keys, rows = {}, {}, []
    for offset, case in enumerate(cases):
        if case.key_columns is UNCONFIGURED:
            topic = case.topic + "~unconfigured"
        else:
            marker = repr(case.key_columns)
            n = configs.setdefault(marker, len(configs))
            topic = f"{case.topic}~{n}"
            keys[topic] = case.key_columns
        rows.append((case.key, case.value, topic, case.partition, offset, case.ts))
    df = spark.createDataFrame(rows, INPUT_SCHEMA)
    python = sorted(comparable(decode_batch(df, keys)).collect(), key=lambda r: r["_kafka_offset"])
    jvm = sorted(comparable(decode_batch_jvm(df, keys)).collect(), key=lambda r: r["_kafka_offset"])
    return python, jvm


def comparable(decoded):
    """Timestamps as epoch microseconds: exact, and PySpark cannot collect year-1 instants east of UTC."""
    from pyspark.sql import functions as F
    return decoded.select(*[F.unix_micros(name).alias(name) if name in ("_kafka_ts", "_source_ts") else name
                            for name in decoded.columns])


def differences(python, jvm, cases, limit=12):
    out = []
    assert len(python) == len(jvm) == len(cases), (len(python), len(jvm), len(cases))
    for case, p, j in zip(cases, python, jvm):
        for name in FIELDS:
            a, b = p[name], j[name]
            same = a == b and type(a) is type(b)
            if name == "_values" and a is not None and b is not None:
                same = dict(a) == dict(b)
            if not same:
                out.append(f"{case.label} (offset {p['_kafka_offset']}): {name}: python={a!r:.400} jvm={b!r:.400}")
                break
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else []), len(out)


def assert_identical(spark, cases, seed=None):
    python, jvm = run_both(spark, cases)
    shown, count = differences(python, jvm, cases)
    header = f"{count} of {len(cases)} rows differ" + (f" (seed {seed}: CDC_JVM_DECODE_SEED={seed})" if seed is not None else "")
    assert not shown, header + "\n" + "\n".join(shown)
    return python


# --- shape and plan -----------------------------------------------------------------------------------


def _golden_cases():
    cases = []
    for topic in (ACCOUNTS_TOPIC, TRANSACTIONS_TOPIC):
        for record in golden(topic):
            cases.append(record_case(f"golden {topic}@{record['partition']}:{record['offset']}", record, ("id",)))
            cases.append(record_case(f"golden {topic}@{record['partition']}:{record['offset']} kafka key", record, None))
    return cases


def test_schema_is_decoded_schema_and_plan_has_no_python(spark, tmp_path):
    rows = [(encode(r["key"]), encode(r["value"]), r["topic"], r["partition"], r["offset"], KAFKA_TS)
            for r in golden(ACCOUNTS_TOPIC)]
    path = str(tmp_path / "kafka_rows")
    spark.createDataFrame(rows, INPUT_SCHEMA).write.parquet(path)
    source = spark.read.parquet(path)  # a JVM-only source, like the Kafka source
    decoded = decode_batch_jvm(source, {ACCOUNTS_TOPIC: ("id",)})
    assert decoded.schema == spark.createDataFrame([], DECODED_SCHEMA).schema
    assert decoded.columns == FIELDS
    changes = decoded.where("_kind = 'change'").select("_values", "_key")
    plan = changes._jdf.queryExecution().executedPlan().toString()
    for python_node in ("BatchEvalPython", "ArrowEvalPython", "PythonUDF", "PythonRDD", "MapPartitions", "FlatMapGroupsInPandas"):
        assert python_node not in plan, plan
    assert plan.count("debezium_decode(") == 1, plan  # decoded once per record, also under a filter
    lineage = changes._jdf.queryExecution().toRdd().toDebugString()
    assert "PythonRDD" not in lineage, lineage
    assert changes.count() == len(rows)


def test_key_columns_json():
    assert json.loads(key_columns_json({"a": ("id",), "b": None, "c": [], "d": "id"})) == {
        "a": ["id"], "b": None,
        "c": {"invalid": "key_columns must be a non-empty sequence of column names, got []"},
        "d": {"invalid": "key_columns must be a non-empty sequence of column names, got 'id'"}}


def test_downstream_steps_see_the_same_batch(spark):
    """batch_groups/summarize/end_offsets, typed_changes, mark_rejected and dead_letter_frame on the JVM
    decoder's frame give what they give on the Python decoder's frame."""
    from cdc_pipeline.batch import batch_groups, columns_from_json, end_offsets, summarize, typed_changes
    from cdc_pipeline.dead_letters import dead_letter_frame, mark_rejected
    records = [r for topic in (ACCOUNTS_TOPIC, TRANSACTIONS_TOPIC) for r in golden(topic)]
    rows = [(encode(r["key"]), encode(r["value"]), r["topic"], r["partition"], r["offset"], KAFKA_TS) for r in records]
    rows += [(None, b'{"payload": ', ACCOUNTS_TOPIC, 5, 1, KAFKA_TS), (None, None, ACCOUNTS_TOPIC, 5, 2, KAFKA_TS),
             (None, b"{}", "oltp.bankdb.other", 0, 0, KAFKA_TS)]
    batch_df = spark.createDataFrame(rows, INPUT_SCHEMA)
    keys = {ACCOUNTS_TOPIC: ("id",), TRANSACTIONS_TOPIC: None}
    results = []
    for decode in (decode_batch, decode_batch_jvm):
        decoded = decode(batch_df, keys)
        groups = sorted(batch_groups(decoded), key=repr)
        summary = summarize(groups)
        typed = {}
        for topic, sets in sorted(summary.column_sets.items()):
            for columns in sets:
                frame = typed_changes(decoded, topic, columns, 7)
                typed[(topic, repr(columns))] = sorted(map(tuple, comparable(frame).collect()), key=repr)
        accounts_columns = columns_from_json(next(g[3] for g in groups if g[1] == ACCOUNTS_TOPIC and g[0] == "change"))
        marked = mark_rejected(decoded, [(ACCOUNTS_TOPIC, accounts_columns, "refused by the test")])
        dead = sorted(map(tuple, comparable(dead_letter_frame(marked, batch_df, 7).withColumnRenamed(
            "kafka_timestamp", "_kafka_ts")).collect()), key=repr)
        results.append((groups, summary.counts(), end_offsets(groups), typed, dead))
    assert results[0] == results[1]
    assert results[0][1]["dead_letters"] == 2 and len(results[0][4]) == 2 + 10  # bank_accounts rejected: 10 changes


# --- golden and hand-made messages --------------------------------------------------------------------


def test_golden_files_decode_identically(spark):
    cases = []
    for path in sorted(DATA.glob("*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            for keys in (None, ("id",), ("id", "id"), ("nope",), UNCONFIGURED, ()):
                cases.append(record_case(f"{path.name}@{record['partition']}:{record['offset']} keys={keys!r}", record, keys))
            tombstone = dict(record, value=None)
            cases.append(record_case(f"{path.name} tombstone", tombstone, ("id",)))
            cases.append(record_case(f"{path.name} empty value", dict(record, value=""), None))
            cases.append(record_case(f"{path.name} empty key", dict(record, key=""), ("id",)))
    python = assert_identical(spark, cases)
    kinds = {r["_kind"] for r in python}
    assert kinds == {"change", "tombstone", "error"}
    print(f"golden files: {len(cases)} rows identical")


def _type_case_records():
    out = []
    for i, (schema, raw, _expected, _type) in enumerate(td.TYPE_CASES):
        fields = [{"type": "int64", "optional": False, "field": "id"}, {**schema, "optional": False, "field": "v"}]
        out.append((f"TYPE_CASES[{i}]", synthetic(fields, {"id": 1, "v": raw}, key={"id": 1}), None))
        # the same value as the key (config and Kafka key of the value's own schema): canonical key text
        key_fields = [{**schema, "optional": False, "field": "v"}]
        out.append((f"TYPE_CASES[{i}] as key", synthetic(fields, {"id": 1, "v": raw}, key={"v": raw}, key_fields=key_fields),
                    ("v",)))
        out.append((f"TYPE_CASES[{i}] optional null", synthetic(
            [fields[0], {**schema, "optional": True, "field": "v"}], {"id": 1, "v": None}, key={"id": 1}), None))
        out.append((f"TYPE_CASES[{i}] in before", synthetic(fields, {"id": 1, "v": raw}, op="u", before={"id": 1, "v": raw},
                                                            key={"id": 1}), ("id",)))
    return out


def _inline_edge_records():
    """The inline cases of test_debezium, rebuilt with the same builders."""
    id_field = {"type": "int64", "optional": False, "field": "id"}
    dec = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "optional": False, "field": "v"}
    out = []
    for op in "rcud":
        fields = [id_field, {"type": "string", "optional": True, "field": "v"}]
        old, new = {"id": 9, "v": "old"}, {"id": 9, "v": "new"}
        out.append((f"op {op}", synthetic(fields, None if op == "d" else new, op=op,
                                          before=None if op in "rc" else old, key={"id": 9}), None))
    out.append(("create with before", synthetic([id_field], {"id": 1}, op="c", before={"id": 0}, key={"id": 1}), None))
    out.append(("update without before", synthetic([id_field], {"id": 1}, op="u", before=None, key={"id": 1}), None))
    out.append(("38 digits", synthetic([id_field, {**dec, "parameters": {"scale": "10", "connect.decimal.precision": "38"}}],
                                       {"id": 1, "v": decimal_bytes(-12345678901234567890123456789012345678)}, key={"id": 1}), None))
    numeric = synthetic([id_field, {**dec, "parameters": {"scale": "2", "connect.decimal.precision": "20"}}], {"id": 1, "v": 0},
                        key={"id": 1})
    for text in ("12345678901234567.8", "-0.0", "1.5e1", "123.456", "1E+3", "1234567890123456789012.5", "-7"):
        out.append((f"decimal as number {text}", dict(numeric, value=numeric["value"].replace('"v": 0', f'"v": {text}')), None))
    out.append(("optional and missing", synthetic([id_field, {"type": "string", "optional": True, "field": "a"},
                                                   {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": "b"}],
                                                  {"id": 1, "a": None}, key={"id": 1}), None))
    out.append(("NaN as string", synthetic([id_field, {"type": "float64", "optional": False, "field": "v"}], {"id": 1, "v": "NaN"},
                                           key={"id": 1}), None))
    fields = [{"type": "int64", "optional": False, "field": "a"}, {"type": "string", "optional": False, "field": "b"}]
    key_fields = [{"type": "string", "optional": False, "field": "b"}, {"type": "int64", "optional": False, "field": "a"}]
    out.append(("composite kafka key", synthetic(fields, {"a": 1, "b": "x"}, key={"b": "x", "a": 1}, key_fields=key_fields), None))
    out.append(("composite key columns", synthetic(fields + [{"type": "string", "optional": True, "field": "c"}],
                                                   {"a": 1, "b": "x", "c": "y"}), ("b", "a")))
    out.append(("delete without kafka key", {**golden_record(ACCOUNTS_TOPIC, 0, 7), "key": None}, ("id",)))
    out.append(("golden with config", golden_record(ACCOUNTS_TOPIC, 0, 7), ("id",)))
    return out


def test_debezium_unit_cases_decode_identically(spark):
    cases = []
    for label, record, kwargs, _kind, _words in td.ERROR_CASES:
        if isinstance(record, bytes):
            cases.append(Case(f"ERROR_CASES {label}", None, record, ACCOUNTS_TOPIC, kwargs.get("key_columns")))
        else:
            cases.append(record_case(f"ERROR_CASES {label}", record, kwargs.get("key_columns")))
    for label, record, keys in _type_case_records() + _inline_edge_records():
        cases.append(record_case(label, record, keys))
    for wrap in (td.U4, td.D7):
        cases.append(record_case("golden U4/D7", wrap, None))
        cases.append(Case("tombstone", b'{"schema":null,"payload":{"id":6}}', None, ACCOUNTS_TOPIC))
        cases.append(Case("empty value", None, b"", ACCOUNTS_TOPIC, ("id",)))
    python = assert_identical(spark, cases)
    assert {r["_error_kind"] for r in python} >= {
        "malformed_json", "empty_value", "not_an_envelope", "unknown_op", "truncate", "missing_key", "type_mismatch",
        "schema_incompatible", "missing_source_position"}
    print(f"test_debezium cases: {len(cases)} rows identical")


# --- exotic inputs, one by one ------------------------------------------------------------------------

ID = {"type": "int64", "optional": False, "field": "id"}


def _one(fields, after, **kw):
    return synthetic([ID] + fields, {"id": 1, **after}, key={"id": 1}, **kw)


def _nested(depth, leaf="1"):
    return "[" * depth + leaf + "]" * depth


EXOTIC = [
    # JSON texts the C scanner treats specially
    ("bom", None, "\ufeff{}"),
    ("bad escape", None, '{"a": "\\x"}'),
    ("bad \\u", None, '{"a": "\\u12g4"}'),
    ("short \\u at end", None, '{"a": "\\u12'),
    ("surrogate pair", None, '{"payload": "\\ud83d\\ude00"}'),
    ("broken pair", None, '{"payload": "\\ud83d\\u00e9", "x": 1}'),
    ("control char", None, '{"a": "x\ty"}'),
    ("trailing comma", None, '{"a": 1,}'),
    ("array trailing comma", None, "[1, 2,]"),
    ("extra data", None, "{} {}"),
    ("multi line", None, '{\n  "a": 1\n  "b": 2}'),
    ("astral before error", None, '{"😀😀": 1 x}'),
    ("nan literal", None, "NaN"),
    ("-Infinity", None, "[-Infinity, Infinity, NaN]"),
    ("big int", None, "1" * 4300),
    ("too big int", None, "[" + "9" * 4301 + "]"),
    ("too big negative int", None, "-" + "9" * 5000),
    ("huge exponent", None, "[1e999999999]"),
    ("deep value ok", None, _nested(984)),
    ("deep value too deep", None, _nested(985)),
    ("deep object", None, '{"a":' * 990 + "1" + "}" * 990),
    ("utf-8 truncated", None, b'{"a": "\xe2\x82"}'),
    ("utf-8 surrogate", None, b'{"a": "\xed\xa0\x80"}'),
    ("utf-8 overlong", None, b'{"a": "\xc0\xaf"}'),
    ("utf-8 too high", None, b'{"a": "\xf4\x90\x80\x80"}'),
    ("utf-8 stray continuation", None, b'\x80{}'),
    ("utf-8 at end", None, b'{}\xf0\x9f\x98'),
    ("key not utf-8", b"\xff", "{}"),
    ("dict reprs", None, json.dumps({"schema": {}, "payload": {"op": {"nested": [1, 2.5, None, True, "x'y\"z"], "é": "\u200b\x7f"}}})),
    ("list repr long", None, json.dumps({"schema": {}, "payload": {"source": {}, "op": list(range(100))}})),
    ("payload a list", None, json.dumps({"payload": [1], "schema": {}, "zz": 1, "Ä": 2, "😀": 3, "\uffff": 4})),
]


def _exotic_records():
    out = [(label, key, value) for label, key, value in EXOTIC]
    dec = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "field": "v", "optional": False}
    for params in ({"scale": " 2 "}, {"scale": "+2"}, {"scale": "2_0", "connect.decimal.precision": "30"}, {"scale": "２"},
                   {"scale": True}, {"scale": "1.5"}, {"scale": [1]}, {"scale": None}, {"scale": "-1"}, {"scale": "3", "connect.decimal.precision": "2"},
                   {"scale": "0", "connect.decimal.precision": "0"}, {"scale": "2", "connect.decimal.precision": "x"},
                   {"scale": "2", "connect.decimal.precision": "-" + "9" * 4400}, {"scale": "9" * 4301}, [], [1], "abc", 0, None,
                   {"scale": "2", "connect.decimal.precision": "65"}):
        out.append((f"decimal params {params!r:.60}", None, _one([{**dec, "parameters": params}], {"v": decimal_bytes(12345)})["value"]))
    record = _one([{**dec, "parameters": {"scale": "2"}}], {"v": "X"})
    for text in ("1.5", "1e1000000", "1e-1000000", "-0.00", "12.3450", "9" * 199 + ".995", "9" * 198 + ".995",
                 "1" * 300, "Infinity", "NaN", "true", "[1]", "{}", '"AA=="', '""', '"A"', '"AB="', '"AB=="', '"ABC=X"', '"ABCD=="',
                 '"=AAA"', '"AB=A"', '"é"', "1e999999999999999999", "1e1000000000000000000", "-0e-1999999999999999997",
                 "1.5e-3000000000", "1e3000000000", "-0.0e2147483648", "12e-2147483649", "0.000e-5", json.dumps(b64(b"\xff" * 2000)), json.dumps(b64(b"\x7f" + b"\xff" * 1795))):
        out.append((f"decimal value {text:.40}", None, record["value"].replace('"v": "X"', f'"v": {text}')))
    for kind, values in {
        "float64": ["1e3000000000", "-1e-3000000000", "-1e-1999999999999999997", "1e1000000000000000000", "1e400", "-1e-400", "-0.0", "1" * 400, "9007199254740993", "0.1", "5e-324", "1.7976931348623157e308", "NaN",
                    '"Infinity"', '"-Infinity"', '"nan"', "true"],
        "float32": ["3.4028235e38", "1e-45", "16777217"],
        "int8": ["1.4e298186520612", "-9.223E+72036854775811", "-0e-5", "127", "128", "-129", "1.0", "true", '"1"', "1" * 30],
        "int64": ["9223372036854775808", "-9223372036854775808", "-9223372036854775809"],
        "string": ['"\\ud800"', '"\\udc00\\ud800"', '"a\\ud800\\ud800b"', '"\\ud800\\udc00\\udc00"', '"x\\udfff\\ud7ff"', '"' + UNAVAILABLE_VALUE + '"', "1", '"x\\u0000y\\u007f\\u0085\\u00a0\\u2028\\ufeff\\uffff"'],
        "boolean": ["1", "0", "null", '"true"'],
        "bytes": ['"' + b64(UNAVAILABLE_VALUE.encode()) + '"', '""', '"AQID"', '"AQI="', '"AQ=="', '"AQ"', "[]"],
    }.items():
        rec = _one([{"type": kind, "optional": False, "field": "v"}], {"v": "X"})
        for text in values:
            out.append((f"{kind} {text:.40}", rec["key"], rec["value"].replace('"v": "X"', f'"v": {text}')))
    for name, kind, values in (
        ("io.debezium.time.ZonedTimestamp", "string", ['"0001-01-01T00:00:00+00:01"', '"9999-12-31T23:59:59-00:00:01"',
                                                       '"2024-02-29T23:59:59.123456789-23:59:59"', '"2023-02-29T00:00:00Z"',
                                                       '"2024-01-01T24:00:00Z"', '"2024-01-01T00:60:00Z"', '"2024-01-01T00:00:60Z"',
                                                       '"0000-01-01T00:00:00Z"', '"2024-13-01T00:00:00Z"', '"2024-01-01T00:00:00+24:00"',
                                                       '"2024-01-01T00:00:00-99:99:99"', '"2024-01-01T00:00:00+23:60"',
                                                       '"2024-01-01T00:00:00.Z"', '"2024-01-01T00:00:00Z\\n"', '"２024-01-01T00:00:00Z"',
                                                       '"0999-06-01T12:00:00.5Z"', '"2024-01-01T00:00:00+00:00"']),
        ("io.debezium.time.MicroTimestamp", "int64", ["-62135596800000000", "-62135596800000001", "253402300799999999",
                                                      "253402300800000000", "-1", "1" * 40, "1.0", "-9223372036854775808"]),
        ("io.debezium.time.NanoTimestamp", "int64", ["-1", "-999", "-1001", "9223372036854775807", "-9223372036854775808"]),
        ("io.debezium.time.Timestamp", "int64", ["-62135596800000", "-62135596800001", "253402300799999", "-30610224000000",
                                                  "-9223372036854775808", "9223372036854775807", "-9007199254740993"]),
        ("io.debezium.time.Date", "int32", ["-719162", "-719163", "2932896", "2932897", "-700000", "2147483648"]),
        ("io.debezium.time.MicroTime", "int64", ["-9223372036854775808", "9223372036854775807", "-1", "3020399000000"]),
        ("io.debezium.time.NanoTime", "int64", ["-9223372036854775808", "-1", "86399999999999"]),
        ("io.debezium.time.Time", "int32", ["-2147483648", "2147483647", "2147483648", "-1"]),
    ):
        rec = _one([{"type": kind, "name": name, "optional": False, "field": "v"}], {"v": "X"})
        for text in values:
            out.append((f"{name.rsplit('.', 1)[1]} {text:.40}", rec["key"], rec["value"].replace('"v": "X"', f'"v": {text}')))
    for label, schema in (
        ("type list", {"type": ["int64"]}), ("name int", {"type": "int64", "name": 5}), ("array named", {"type": "array", "name": "x.Y"}),
        ("map", {"type": "map", "name": ""}), ("unknown", {"type": "int128"}), ("no type", {}),
        ("decimal param float inf", {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": float("inf")}}),
        ("decimal param float nan", {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": float("nan")}}),
    ):
        rec = _one([{**schema, "optional": True, "field": "v"}], {"v": None})
        out.append((f"schema {label}", rec["key"], rec["value"]))
    # envelope oddities
    base = _one([{"type": "string", "optional": True, "field": "s"}], {"s": "x"})
    doc = json.loads(base["value"])

    def variant(label, change, key=base["key"]):
        d = copy.deepcopy(doc)
        change(d)
        out.append((label, key, dumps(d, random.Random(len(out)), ensure_ascii=True)))

    variant("field names unhashable", lambda d: d["schema"]["fields"].append({"field": ["x"]}))
    variant("field names dict", lambda d: d["schema"]["fields"].insert(0, {"field": {"a": 1}}))
    variant("duplicate before field", lambda d: d["schema"]["fields"].append({"field": "after", "type": "int64"}))
    variant("schema fields not list", lambda d: d["schema"].update(fields={"a": 1}))
    variant("image schema not struct", lambda d: d["schema"]["fields"][1].update(type="map"))
    variant("after not an object", lambda d: d["payload"].update(after=[1, 2]))
    variant("duplicate column", lambda d: d["schema"]["fields"][1]["fields"].append({"type": "string", "field": "s"}))
    variant("field without name", lambda d: d["schema"]["fields"][1]["fields"].append({"type": "string", "field": ""}))
    variant("field not a dict", lambda d: d["schema"]["fields"][1]["fields"].append("s"))
    variant("extra fields sorted", lambda d: d["payload"]["after"].update({"zeta": 1, "Alpha": 2, "ß": 3, "😀": 4, "\ufffd": 5}))
    variant("ts_ms bool", lambda d: d["payload"]["source"].update(ts_ms=True))
    variant("ts_ms huge decimal", lambda d: d["payload"]["source"].update(ts_ms=Raw("1.4E+298186520612")))
    variant("decimal param huge", lambda d: d["schema"]["fields"][1]["fields"].append({
        "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "optional": True, "field": "d",
        "parameters": {"scale": Raw("1e4400"), "connect.decimal.precision": Raw("-2.5e-3000000000")}}))
    variant("decimal param tiny", lambda d: d["schema"]["fields"][1]["fields"].append({
        "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "optional": True, "field": "d",
        "parameters": {"scale": Raw("2.5e-3000000000"), "connect.decimal.precision": Raw("9.9e1")}}))
    variant("ts_ms float", lambda d: d["payload"]["source"].update(ts_ms=1.5))
    variant("ts_ms negative", lambda d: d["payload"]["source"].update(ts_ms=-62135596800000))
    variant("ts_ms max", lambda d: d["payload"]["source"].update(ts_ms=253402300799999))
    variant("pos negative", lambda d: d["payload"]["source"].update(pos=-1))
    variant("row too big", lambda d: d["payload"]["source"].update(row=10**6))
    variant("pos bool", lambda d: d["payload"]["source"].update(pos=False))
    variant("file with newline", lambda d: d["payload"]["source"].update(file="mysql\n-bin.000001"))
    variant("file with unicode line sep", lambda d: d["payload"]["source"].update(file="mysql\u2028bin.000001"))
    variant("file number too big", lambda d: d["payload"]["source"].update(file="b." + "9" * 20))
    variant("file number huge", lambda d: d["payload"]["source"].update(file="b." + "0" * 4301 + "1"))
    variant("file several dots", lambda d: d["payload"]["source"].update(file="a.1.b.00042"))
    variant("file non ascii digits", lambda d: d["payload"]["source"].update(file="a.١٢"))
    variant("lone surrogates in names", lambda d: (d["payload"]["source"].update(db="\ud800", ts_ms=None)))
    variant("lone surrogate column", lambda d: (d["schema"]["fields"][1]["fields"].append({"type": "int8", "field": "\udc00x"}),
                                                d["payload"]["after"].update({"\udc00x": 1000})))
    variant("lone surrogate file", lambda d: d["payload"]["source"].update(file="bin\ud800.000001"))
    variant("lone surrogate file ok", lambda d: d["payload"]["source"].update(file="bin\ud800x.000001"))
    variant("lone surrogate column ok", lambda d: (d["schema"]["fields"][1]["fields"].append({"type": "string", "optional": True, "field": "\udc00x"}),
                                                   d["payload"]["after"].update({"\udc00x": "\ud800"})))
    variant("db not a string", lambda d: d["payload"]["source"].update(db=["x"]))
    variant("op null", lambda d: d["payload"].update(op=None))
    variant("op long", lambda d: d["payload"].update(op="x" * 200))
    variant("op quote", lambda d: d["payload"].update(op="it's"))
    variant("op both quotes", lambda d: d["payload"].update(op="it's \"q\""))
    variant("kafka key null payload", lambda d: None, key=json.dumps({"schema": None, "payload": None}))
    variant("kafka key schema not dict", lambda d: None, key=json.dumps({"schema": [1], "payload": {"id": 1}}))
    variant("kafka key not envelope", lambda d: None, key=json.dumps({"payload": {"id": 1}}))
    variant("kafka key list", lambda d: None, key="[1, 2]")
    variant("kafka key deep", lambda d: None, key=_nested(983))
    variant("kafka key too deep", lambda d: None, key=_nested(984))
    variant("kafka key float equal", lambda d: None, key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "float64", "optional": False, "field": "id"}]}, "payload": {"id": 1.0}}))
    variant("kafka key bool equal", lambda d: None, key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "boolean", "optional": False, "field": "id"}]}, "payload": {"id": True}}))
    variant("kafka key string vs int", lambda d: None, key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "string", "optional": False, "field": "id"}]}, "payload": {"id": "1"}}))
    variant("kafka key decimal vs int", lambda d: None, key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}, "optional": False,
         "field": "id"}]}, "payload": {"id": decimal_bytes(1000)}}))
    variant("kafka key nan", lambda d: None, key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "float64", "optional": False, "field": "id"}]}, "payload": {"id": "NaN"}}))
    variant("kafka key row null", lambda d: d["payload"]["after"].update(s=None), key=json.dumps({"schema": {"type": "struct", "fields": [
        {"type": "string", "optional": False, "field": "s"}]}, "payload": {"s": "x"}}))
    return out


def test_exotic_inputs_decode_identically(spark):
    cases = []
    for label, key, value in _exotic_records():
        for keys in (None, ("id",)):
            cases.append(Case(f"{label} keys={keys}", key, value, "t.shop.things", keys))
    cases.append(Case("unconfigured None-ish topic", None, b"{}", "t.other", UNCONFIGURED))
    cases.append(Case("unconfigured quote topic", None, None, "it's", UNCONFIGURED))
    cases.append(Case("null kafka ts", None, b"{}", ts=None))
    cases.append(Case("old kafka ts", None, b"{}", ts=dt.datetime(1900, 1, 1)))
    assert_identical(spark, cases)
    print(f"exotic inputs: {len(cases)} rows identical")


def test_source_ts_out_of_range_is_a_decoder_failure(spark):
    """Out of datetime's range, the Python decoder raises from `event.source_ts`, outside its try, and
    fails the task; the JVM decoder keeps the evidence as a decoder_failure with Python's text."""
    cases, expected = [], []
    for ts_ms in (-62135596800001, 253402300800000, 10**17, -10**17, 10**20, 10**40):
        record = mutate_value(td.U4, td._set_source(ts_ms=ts_ms))
        event = decode_record(ACCOUNTS_TOPIC, 0, 4, encode(record["key"]), encode(record["value"]))
        with pytest.raises(OverflowError) as caught:
            event.source_ts  # noqa: B018
        expected.append(f"OverflowError: {caught.value}")
        cases.append(record_case(f"ts_ms={ts_ms}", record, None))
    keys = {ACCOUNTS_TOPIC: None}
    rows = [(c.key, c.value, ACCOUNTS_TOPIC, 0, i, KAFKA_TS) for i, c in enumerate(cases)]
    jvm = decode_batch_jvm(spark.createDataFrame(rows, INPUT_SCHEMA), keys).orderBy("_kafka_offset").collect()
    assert [(r["_kind"], r["_error_kind"], r["_error_reason"]) for r in jvm] == [
        ("error", "decoder_failure", text) for text in expected]
    assert [bytes(r["_raw_value"]) for r in jvm] == [c.value for c in cases]


# --- random events ------------------------------------------------------------------------------------


class Raw:
    """A JSON number written as this exact text (Decimal-parsed by the decoders)."""

    def __init__(self, text):
        self.text = text


def dumps(doc, rng, ensure_ascii=None):
    raws = []

    def default(o):
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        raise TypeError(type(o).__name__)

    text = json.dumps(doc, default=default, ensure_ascii=rng.random() < 0.5 if ensure_ascii is None else ensure_ascii,
                      separators=(",", ":") if rng.random() < 0.8 else None)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00", ensure_ascii=False), raw, 1)
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw, 1)
    return text


CHARS = (list("abcXYZ019 _-.,:;'\"\\/") + ["\n", "\t", "\x00", "\x1f", "\x7f", "é", "ü", "ß", "中", "文", "😀", "𝔘", "\u200b",
                                             "\u2028", "\xa0", "\ufeff", "\u0301", "\u00ad", "\U000e0001", "\ue000"])


def rand_text(rng, n=None):
    n = rng.randint(0, 12) if n is None else n
    return "".join(rng.choice(CHARS) for _ in range(n))


def rand_double(rng):
    pick = rng.random()
    if pick < 0.3:
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if pick < 0.5:
        return float(f"{rng.randint(-10**6, 10**6)}e{rng.randint(-30, 30)}")
    if pick < 0.6:
        return rng.choice([0.1, 0.2, 0.3, 1e16, 1e15, 1e-4, 1e-5, 123.0, 2.0**-1074, 2.0**1023, 1.7976931348623157e308,
                           2.2250738585072014e-308, -0.0, 0.0, 1e22, 1e23, 9007199254740993.0, 5e-324, 100.0])
    return round(rng.uniform(-1e6, 1e6), rng.randint(0, 8))


def _json_double(rng, value):
    if math.isnan(value) or math.isinf(value):
        return rng.choice([value, {float("inf"): "Infinity", float("-inf"): "-Infinity"}.get(value, "NaN")])
    return Raw(repr(value)) if rng.random() < 0.8 else Raw(format(value, ".17g"))


def column_spec(rng):
    """(schema field without name, good-value generator, bad values)."""
    kind = rng.choice(["boolean", "int8", "int16", "int32", "int64", "float32", "float64", "string", "bytes", "decimal",
                       "decimal", "decimal", "date", "cdate", "ts", "micro", "nano", "cts", "zoned", "zoned", "time", "ctime",
                       "microtime", "nanotime", "year", "bits", "json", "enum", "enumset", "uuid"])
    bad_common = [True, "x", Raw("1.5"), [1], {"a": 1}, float("nan"), 10**20, UNAVAILABLE_VALUE]
    if kind == "boolean":
        return {"type": "boolean"}, lambda: rng.choice([True, False]), [1, 0, "true"]
    if kind.startswith("int"):
        bits = int(kind[3:])
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return {"type": kind}, lambda: rng.choice([lo, hi, 0, -1, rng.randint(lo, hi)]), [hi + 1, lo - 1, Raw("1.0")] + bad_common
    if kind.startswith("float"):
        def good():
            v = rand_double(rng)
            return rng.choice([_json_double(rng, v), rng.randint(-10**6, 10**6), "NaN", "Infinity", "-Infinity", float("nan"),
                               float("-inf"), Raw("1e400"), Raw("-0.0"), Raw("0.1000"), 2**63 + 1])
        return {"type": kind}, good, ["nan", True, "1.5", 10**400]
    if kind in ("string", "json", "enum", "enumset", "uuid"):
        name = {"json": "io.debezium.data.Json", "enum": "io.debezium.data.Enum", "enumset": "io.debezium.data.EnumSet",
                "uuid": "io.debezium.data.Uuid", "string": None}[kind]
        schema = {"type": "string"} if name is None else {"type": "string", "name": name}
        return schema, lambda: rand_text(rng), [1, True, UNAVAILABLE_VALUE, Raw("2.50"), None]
    if kind in ("bytes", "bits"):
        schema = {"type": "bytes"} if kind == "bytes" else {"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "9"}}
        return schema, lambda: b64(rng.randbytes(rng.randint(0, 9))), [
            "!!", "AB", "A===", "AB=C", "ABCD==", "=AB", b64(UNAVAILABLE_VALUE.encode()), "é", 5]
    if kind == "decimal":
        precision = rng.choice([1, 2, 5, 10, 18, 19, 20, 30, 37, 38, None, 65])
        cap = 38 if precision is None else min(precision, 38)
        scale = rng.randint(0, cap)
        params = {"scale": str(scale)}
        if precision is not None:
            params["connect.decimal.precision"] = str(precision)
        schema = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": params}

        def good():
            digits = rng.randint(1, cap)
            unscaled = rng.randint(-(10**digits - 1), 10**digits - 1)
            if rng.random() < 0.7:
                return decimal_bytes(unscaled)
            value = Decimal(unscaled).scaleb(-scale)
            return rng.choice([Raw(format(value, "f")), Raw(str(value)), Raw(format(value, "e")), unscaled // 10**scale])
        wide = 10 ** cap
        return schema, good, [decimal_bytes(wide), decimal_bytes(-wide), "", "!!", Raw("0.123456789012345678901234567890123456789"),
                              Raw("-0.0"), Raw("1e-50"), Raw("1e50"), wide, True, b64(UNAVAILABLE_VALUE.encode())]
    if kind in ("date", "cdate"):
        name = "io.debezium.time.Date" if kind == "date" else "org.apache.kafka.connect.data.Date"
        return {"type": "int32", "name": name}, lambda: rng.choice([rng.randint(-719162, 2932896), rng.randint(-20000, 30000), 0]), [
            -719163, 2932897, 2**31, "2024-01-01"]
    if kind in ("ts", "micro", "nano", "cts"):
        name, per = {"ts": ("io.debezium.time.Timestamp", 10**3), "micro": ("io.debezium.time.MicroTimestamp", 10**6),
                     "nano": ("io.debezium.time.NanoTimestamp", 10**9), "cts": ("org.apache.kafka.connect.data.Timestamp", 10**3)}[kind]
        lo, hi = -62135596800 * per, 253402300800 * per - 1
        if kind == "nano":
            lo, hi = -(2**63), 2**63 - 1

        def good():
            return rng.choice([rng.randint(lo, hi), rng.randint(-10**9, 2 * 10**9) * per + rng.randint(0, per - 1), lo, hi, -1, 0])
        return {"type": "int64", "name": name}, good, [lo - 1, hi + 1, Raw("1.0"), "x", 10**30]
    if kind == "zoned":
        def good():
            y = rng.choice([1, 2, 999, 1000, 1969, 1970, 2024, 9999, rng.randint(1, 9999)])
            m, d = rng.randint(1, 12), rng.randint(1, 28)
            frac = rng.choice(["", "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))])
            zone = rng.choice(["Z", "Z", f"{rng.choice('+-')}{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                               f"{rng.choice('+-')}{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"])
            return f"{y:04d}-{m:02d}-{d:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}{frac}{zone}"
        return {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, good, [
            "2024-02-30T00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00", "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00", "2024-01-01T00:00:00+24:00", "0000-01-01T00:00:00Z", UNAVAILABLE_VALUE, 5]
    if kind in ("time", "ctime", "microtime", "nanotime"):
        name, bits = {"time": ("io.debezium.time.Time", 32), "ctime": ("org.apache.kafka.connect.data.Time", 32),
                      "microtime": ("io.debezium.time.MicroTime", 64), "nanotime": ("io.debezium.time.NanoTime", 64)}[kind]
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return {"type": f"int{bits}", "name": name}, lambda: rng.choice([rng.randint(lo, hi), rng.randint(-10**8, 10**8), lo, hi]), [
            hi + 1, "12:00", Raw("1.5")]
    return {"type": "int32", "name": "io.debezium.time.Year"}, lambda: rng.randint(1901, 2155), ["2024", 2**31]


def random_table(rng):
    ncols = rng.randint(0, 6)
    specs = [column_spec(rng) for _ in range(ncols)]
    names = [rng.choice(["a", "b", "c", "v", "x", "é", "Δ", "col 1", "q'", 'q"', "😀", "zz"]) + str(i) for i in range(ncols)]
    id_spec = rng.choice([({"type": "int64"}, lambda: rng.randint(1, 10**12), []), column_spec(rng)])
    fields = [{**id_spec[0], "optional": False, "field": "id"}]
    for name, (schema, _, _) in zip(names, specs):
        fields.append({**schema, "optional": rng.random() < 0.5, "field": name})
    return ncols, specs, names, id_spec, fields


def random_event(rng, index, tables=None):
    """One Kafka record (key, value, key_columns, topic) of a random table, valid or broken. With `tables`,
    most events reuse one of a few tables, so their schema texts repeat (the decoder's schema cache)."""
    if tables is not None and tables and rng.random() < 0.6:
        ncols, specs, names, id_spec, fields = rng.choice(tables)
    else:
        ncols, specs, names, id_spec, fields = table = random_table(rng)
        if tables is not None and len(tables) < 24:
            tables.append(table)

    def image():
        values = {"id": id_spec[1]()}
        for field, (_, good, bad) in zip(fields[1:], specs):
            roll = rng.random()
            if roll < 0.03 and bad:
                values[field["field"]] = rng.choice(bad)
            elif roll < 0.08:
                values[field["field"]] = None
            elif roll < 0.1:
                continue  # missing
            else:
                values[field["field"]] = good()
        return values

    op = rng.choice("rcud")
    after = None if op == "d" else image()
    before = image() if op in "ud" and rng.random() < 0.9 else None
    if before is not None and op in "ud" and rng.random() < 0.7:
        before["id"] = after["id"] if after is not None else before["id"]
    row = before if op == "d" else after
    topic = "t.shop.things"
    record = synthetic(fields, None, op=op, before=None, source={
        "ts_ms": rng.choice([1_700_000_000_000, rng.randint(-62135596800000, 253402300799999), rng.randint(0, 2 * 10**12)]),
        "file": rng.choice([f"mysql-bin.{rng.randint(0, 999999):06d}", f"binlog.{rng.randint(0, 10**19)}"]),
        "pos": rng.randint(0, 10**12 - 1), "row": rng.randint(0, 10**6 - 1)})
    document = json.loads(record["value"])
    # Carry exact numbers/specials through: rebuild the payload with the generated Python values.
    document["payload"]["after"], document["payload"]["before"] = after, before

    key_mode = rng.choice(["kafka", "config", "both", "none", "composite", "mismatch"])
    key_columns, key = None, None
    if row is not None and key_mode != "none":
        key_names = ["id"] if key_mode not in ("composite",) or ncols == 0 else ["id", rng.choice(names)]
        rng.shuffle(key_names)
        if key_mode in ("config", "both", "composite") and rng.random() < 0.8:
            key_columns = tuple(key_names)
        if key_mode in ("kafka", "both", "composite", "mismatch"):
            key_fields = [copy.deepcopy(next(f for f in fields if f["field"] == n)) for n in key_names]
            for f in key_fields:
                f["optional"] = rng.random() < 0.2
            payload = {n: row.get(n) for n in key_names}
            if key_mode == "mismatch":
                other = column_spec(rng)
                if rng.random() < 0.5:
                    key_fields[0] = {**other[0], "optional": False, "field": key_names[0]}
                payload[key_names[0]] = other[1]()
            key = dumps({"schema": {"type": "struct", "optional": False, "fields": key_fields}, "payload": payload}, rng)
    value = dumps(document, rng)
    return mutate_raw(rng, key, value, key_columns, topic)


ENVELOPE_MUTATIONS = [
    lambda d: d.pop("schema"), lambda d: d.pop("payload"), lambda d: d.update(payload=None), lambda d: d["payload"].pop("op"),
    lambda d: d["payload"].update(op="t"), lambda d: d["payload"].update(op=7), lambda d: d["payload"].pop("source"),
    lambda d: d["payload"].update(source="s"), lambda d: d["payload"]["source"].pop("db"),
    lambda d: d["payload"]["source"].update(table=""), lambda d: d["payload"]["source"].update(ts_ms=None),
    lambda d: d["payload"]["source"].update(ts_ms="1"), lambda d: d["payload"]["source"].pop("file"),
    lambda d: d["payload"]["source"].update(file="mysql-bin"), lambda d: d["payload"]["source"].update(pos=10**12),
    lambda d: d["payload"]["source"].update(row=-1), lambda d: d["payload"]["source"].update(pos="1"),
    lambda d: d["schema"].update(type="map"), lambda d: d["schema"]["fields"].pop(0), lambda d: d["schema"]["fields"].pop(1),
    lambda d: d["payload"].update(after={"surprise": 1, **(d["payload"]["after"] or {})}),
    lambda d: d["payload"].update(before="b"), lambda d: d["schema"]["fields"][1]["fields"].append({"type": "int64", "field": "id"}),
    lambda d: d["schema"]["fields"][1]["fields"].insert(0, {"type": "struct", "name": "x.Point", "field": "p"}),
    lambda d: d["schema"]["fields"][1]["fields"].append({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
                                                         "parameters": {"scale": "40"}, "field": "d", "optional": True}),
    lambda d: d.update(schema=[d.get("schema")]),
]


def mutate_raw(rng, key, value, key_columns, topic):
    roll = rng.random()
    if roll < 0.12:  # envelope-level breakage
        document = json.loads(value, parse_float=Decimal)
        try:
            rng.choice(ENVELOPE_MUTATIONS)(document)
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        value = json.dumps(document, default=str)
    elif roll < 0.2:  # byte/character-level breakage of the value or the key
        target = "key" if key is not None and rng.random() < 0.3 else "value"
        text = (key if target == "key" else value).encode("utf-8")
        how = rng.random()
        pos = rng.randint(0, len(text))
        if how < 0.3:
            text = text[:pos]
        elif how < 0.5:
            text = text[:pos] + bytes([rng.choice([0x80, 0xc0, 0xe2, 0xed, 0xf0, 0xf5, 0xff])]) + text[pos:]
        elif how < 0.9:
            text = text[:pos] + rng.choice(['"', "{", "}", "[", "]", ",", ":", "\\", " ", "x", "0", "-", "e", "\n", "\\u"]).encode() + text[pos + 1:]
        else:
            text = "\ufeff".encode() + text
        if target == "key":
            key = text
        else:
            value = text
    elif roll < 0.23:
        value = rng.choice([None, b""])
    elif roll < 0.25:
        topic = rng.choice(["t.unconfigured", "it's"])
        key_columns = UNCONFIGURED
    elif roll < 0.26:
        key = b""
    elif roll < 0.27:
        key_columns = rng.choice([(), ("nope",), ("id", "id")])
    return Case("random", key, value, topic, key_columns)


def _cache_hits(spark):
    """(values, keys) the JVM decoder parsed from a cached schema on (local mode: the executors are here)."""
    text = spark.sparkContext._jvm.io.cdcpipeline.debezium.DebeziumDecoder.schemaCacheHits()
    return [int(n) for n in text.split(",")]


def test_random_events_decode_identically(spark):
    rng = random.Random(SEED)
    cases, tables = [], []
    for index in range(RANDOM_EVENTS):
        case = random_event(rng, index, tables)
        case.label = f"random event #{index}"
        cases.append(case)
    hits_before = _cache_hits(spark)
    python = assert_identical(spark, cases, seed=SEED)
    hits = [after - before for after, before in zip(_cache_hits(spark), hits_before)]
    assert hits[0] > len(cases) // 10 and hits[1] > 0, hits  # both paths of the decoder are compared
    kinds = {}
    for r in python:
        kinds[r["_error_kind"] or r["_kind"]] = kinds.get(r["_error_kind"] or r["_kind"], 0) + 1
    print(f"random events (seed {SEED}): {len(cases)} rows identical; {dict(sorted(kinds.items()))}; "
          f"decoded from a cached schema on: {hits[0]} values, {hits[1]} keys")
    assert kinds.get("change", 0) > len(cases) // 4 and len(kinds) >= 8, kinds


# --- float repr ---------------------------------------------------------------------------------------


def test_float_repr_matches_python(spark):
    rng = random.Random(SEED)
    values = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-05, 1e16, 1e15, 0.1, 123.0, 5e-324, 1.7976931348623157e308,
              2.2250738585072014e-308, 2.2250738585071014e-308, 9007199254740993.0, 1e22, 1e23, 0.3, 2.0 / 3, 1e-4, 1234567890123456.7]
    values += [2.0 ** e for e in range(-1074, 1024)] + [-(2.0 ** e) * 3 for e in range(-1000, 1000, 7)]
    values += [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(30000)]
    values += [float(f"{rng.randint(1, 10**rng.randint(1, 17))}e{rng.randint(-330, 310)}") for _ in range(20000)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(10000)]
    lines = "\n".join(struct.pack(">d", v).hex() for v in values)
    got = spark.sparkContext._jvm.io.cdcpipeline.debezium.DebeziumDecoder.floatReprs(lines).split("\n")[:-1]
    wrong = [(v, r, j) for v, r, j in zip(values, map(repr, values), got) if r != j]
    assert len(got) == len(values) and not wrong, f"seed {SEED}: {wrong[:10]}"


def test_a_value_over_the_size_limit_is_an_error_row_in_both_decoders(spark):
    """Not decoded (the JVM decoder is not even called for it), its bytes kept, its size in the reason;
    records at the limit, and tombstones, decode as usual."""
    [record] = [r for r in golden(ACCOUNTS_TOPIC) if r["value"] is not None][:1]
    value = encode(record["value"])
    rows = [(encode(record["key"]), value, ACCOUNTS_TOPIC, 0, 1, KAFKA_TS),
            (encode(record["key"]), value + b" " * 10, ACCOUNTS_TOPIC, 0, 2, KAFKA_TS),
            (encode(record["key"]), None, ACCOUNTS_TOPIC, 0, 3, KAFKA_TS)]
    df = spark.createDataFrame(rows, INPUT_SCHEMA)
    keys = {ACCOUNTS_TOPIC: ("id",)}
    limit = len(value) + 5
    python = sorted(comparable(decode_batch(df, keys, limit)).collect(), key=lambda r: r["_kafka_offset"])
    jvm = sorted(comparable(decode_batch_jvm(df, keys, limit)).collect(), key=lambda r: r["_kafka_offset"])
    assert python == jvm
    assert [r["_kind"] for r in jvm] == ["change", "error", "tombstone"]
    big = jvm[1]
    assert big["_error_kind"] == "record_too_large" and bytes(big["_raw_value"]) == value + b" " * 10
    assert big["_error_reason"] == (f"value of {len(value) + 10} bytes is larger than source.max_record_bytes "
                                    f"({limit}); not decoded")
