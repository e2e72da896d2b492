"""The only module that knows the Debezium envelope: Kafka record -> typed `ChangeEvent`.

Messages come from Kafka Connect's JsonConverter with schemas enabled:

    key   = {"schema": {...}, "payload": {"id": 3}}                    (null for tables without a key)
    value = {"schema": {...}, "payload": {"before": {...} | null, "after": {...} | null,
             "source": {"db", "table", "ts_ms", "file", "pos", "row", ...}, "op": "r|c|u|d", "ts_ms"}}
    value = null                                                         (tombstone after a delete)

Every value is decoded by the schema embedded in its own message; no table shape is assumed.

Embedded schema -> Spark SQL type -> Python value:

    org.apache.kafka.connect.data.Decimal (bytes)  decimal(p,s)   decimal.Decimal with scale s; p from
                                                                  connect.decimal.precision (38 if absent,
                                                                  capped at 38); also a JSON number
                                                                  (JsonConverter decimal.format=NUMERIC)
    io.debezium.time.Date, connect Date (int32)    date           datetime.date (days since epoch)
    io.debezium.time.Timestamp (int64 ms),         timestamp_ntz  naive datetime.datetime: MySQL DATETIME
      MicroTimestamp (us), NanoTimestamp (ns),                    has no zone; ns are floored to us
      connect Timestamp (ms)
    io.debezium.time.ZonedTimestamp (string)       timestamp      aware datetime in UTC (MySQL TIMESTAMP)
    io.debezium.time.Time (ms) / MicroTime (us) /  string         '[-]HH:MM:SS.ffffff' (MySQL TIME spans
      NanoTime (ns), connect Time (ms)                            -838:59:59..838:59:59, not a time of day)
    io.debezium.time.Year (int32)                  int            int
    io.debezium.data.Bits (bytes)                  binary         bytes
    io.debezium.data.Json / Enum / EnumSet, any    string         str
      other named string
    boolean                                        boolean        bool
    int8 / int16 / int32 / int64                   tinyint / smallint / int / bigint   int (range-checked)
    float32 / float64                              float / double float ("NaN"/"Infinity" strings accepted)
    string                                         string         str (decimal.handling.mode=string too)
    bytes                                          binary         bytes (base64 in JSON)

A semantic name this module does not know falls back to its primitive type. struct/array/map columns
(e.g. MySQL spatial types) are rejected as schema_incompatible.

Debezium's unavailable-value placeholder (`__debezium_unavailable_value`, as a string or as its UTF-8
bytes) is rejected as type_mismatch: it stands for "value not captured", and writing it to a sink would
replace real data with the placeholder.
"""
from __future__ import annotations

import base64
import binascii
import decimal
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import DecodeError, SequenceError
from .ordering import binlog_file_number, change_sequence

UNAVAILABLE_VALUE = "__debezium_unavailable_value"
_UNAVAILABLE_BYTES = UNAVAILABLE_VALUE.encode("utf-8")

OPS = ("r", "c", "u", "d")
CHANGE_TYPES = {"r": "SNAPSHOT", "c": "INSERT", "u": "UPDATE", "d": "DELETE"}

# Envelope paths, in one place.
PAYLOAD, SCHEMA = "payload", "schema"
BEFORE, AFTER, SOURCE, OP = "before", "after", "source", "op"
SOURCE_DB, SOURCE_TABLE, SOURCE_TS_MS = "db", "table", "ts_ms"
SOURCE_FILE, SOURCE_POS, SOURCE_ROW = "file", "pos", "row"

_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_DECIMAL_PRECISION = 38
_WIDE = decimal.Context(prec=200, traps=[decimal.InvalidOperation])


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark SQL type string, see the module doc
    nullable: bool


@dataclass(frozen=True)
class ChangeEvent:
    table: str  # "<db>.<table>" from source.db / source.table
    op: str  # 'r', 'c', 'u', 'd'
    seq: int  # ordering.change_sequence of the binlog coordinates
    source_ts_ms: int  # source.ts_ms: commit time in MySQL
    binlog_file: str
    binlog_pos: int
    binlog_row: int
    key: dict  # primary-key columns -> values, in key-column order
    row: dict  # after image for r/c/u; the before image (the deleted row) for d
    before: dict | None  # before image for u (if the message has one) and d, else None
    columns: tuple[Column, ...]  # columns of `row`, in schema order
    # Where the event sits in Kafka (filled by decode_record; unique per event).
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(self.key)

    @property
    def change_type(self) -> str:
        """SNAPSHOT / INSERT / UPDATE / DELETE, as `_change_type` in the warehouse."""
        return CHANGE_TYPES[self.op]

    @property
    def source_ts(self) -> datetime:
        """source_ts_ms as an aware UTC datetime (`_source_ts`)."""
        return _EPOCH_UTC + timedelta(milliseconds=self.source_ts_ms)

    def before_json(self) -> str | None:
        """The before image as JSON (`_before`), or None; see image_to_json."""
        return None if self.before is None else image_to_json(self.before)


def key_columns_of(event: ChangeEvent) -> tuple[str, ...]:
    """The names of the event's key columns, in key order."""
    return tuple(event.key)


# --- public entry point -------------------------------------------------------------------------------


def decode_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    key_columns: Sequence[str] | None = None,
) -> ChangeEvent | None:
    """Decode one Kafka record of a Debezium topic.

    Returns None for a tombstone (value None or empty). Raises DecodeError (see errors.DecodeError for
    the kinds) for anything that is not a valid change event.

    key_columns: the table's primary-key columns from the configuration. When given, the key is taken
    from the row image (after for r/c/u, before for d) and a Kafka key, if present, must agree with it.
    When None, the key is the Kafka key's payload.
    """
    if key_columns is not None:
        if isinstance(key_columns, str) or not key_columns:
            raise ValueError(f"key_columns must be a non-empty sequence of column names, got {key_columns!r}")
        key_columns = tuple(key_columns)
    if value is None or len(value) == 0:
        return None

    envelope = _parse_json(value, "value")
    payload, schema = _envelope_parts(envelope)
    op = payload[OP]
    if not isinstance(op, str) or op not in OPS:
        raise DecodeError("unknown_op", f"op must be one of r, c, u, d; found {_show(op)}")
    source = payload[SOURCE]
    table = _source_table(source)
    source_ts_ms = _source_ts_ms(source, table)
    binlog_file, binlog_pos, binlog_row, seq = _source_position(source, table)

    image_schemas = _image_schemas(schema, table)
    row_label = BEFORE if op == "d" else AFTER
    row_payload = payload.get(row_label)
    if row_payload is None:
        raise DecodeError(
            "not_an_envelope",
            f"{table}: op {op!r} needs a {row_label!r} image, found {_show(row_payload)}",
        )
    columns, row = _decode_image(row_payload, image_schemas[row_label], table, row_label)
    before: dict | None = None
    if op == "d":
        before = dict(row)
    elif op == "u" and payload.get(BEFORE) is not None:  # tolerated when absent (binlog_row_image!=FULL)
        _, before = _decode_image(payload[BEFORE], image_schemas[BEFORE], table, BEFORE)

    kafka_key = _decode_kafka_key(key, table)
    event_key = _resolve_key(table, kafka_key, key_columns, row, columns, row_label)

    return ChangeEvent(
        table=table,
        op=op,
        seq=seq,
        source_ts_ms=source_ts_ms,
        binlog_file=binlog_file,
        binlog_pos=binlog_pos,
        binlog_row=binlog_row,
        key=event_key,
        row=row,
        before=before,
        columns=columns,
        topic=topic,
        partition=partition,
        offset=offset,
    )


# --- envelope -----------------------------------------------------------------------------------------


def _parse_json(raw: bytes | bytearray | memoryview | str, what: str) -> Any:
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecodeError(
                "malformed_json", f"Kafka {what} is not UTF-8: byte {err.start} is {raw[err.start:err.start + 1]!r}"
            ) from err
    if not isinstance(raw, str):
        raise DecodeError("malformed_json", f"Kafka {what} must be bytes or str, found {type(raw).__name__}")
    try:
        # parse_float=Decimal keeps JSON numbers exact (decimal.format=NUMERIC, double columns).
        return json.loads(raw, parse_float=decimal.Decimal)
    except (ValueError, RecursionError) as err:  # JSONDecodeError, or an integer too long to convert
        raise DecodeError("malformed_json", f"Kafka {what} is not valid JSON: {err}") from err


def _envelope_parts(envelope: Any) -> tuple[dict, dict]:
    if not isinstance(envelope, dict):
        raise DecodeError(
            "not_an_envelope", f"value must be a JSON object with schema and payload, found {_show(envelope)}"
        )
    payload = envelope.get(PAYLOAD)
    if not isinstance(payload, dict):
        raise DecodeError(
            "not_an_envelope",
            f"value has no payload object (found {_show(payload)}); top-level keys: {sorted(envelope)}",
        )
    missing = [name for name in (OP, SOURCE) if name not in payload]
    if missing:
        raise DecodeError(
            "not_an_envelope",
            f"payload lacks {', '.join(missing)}; a Debezium envelope has before, after, source, op "
            f"(found keys {sorted(payload)})",
        )
    if not isinstance(payload[SOURCE], dict):
        raise DecodeError("not_an_envelope", f"payload.source must be an object, found {_show(payload[SOURCE])}")
    schema = envelope.get(SCHEMA)
    if not isinstance(schema, dict):
        raise DecodeError(
            "not_an_envelope",
            f"value has no embedded schema (found {_show(schema)}); the JsonConverter must run with "
            "schemas.enable=true",
        )
    return payload, schema


def _source_table(source: dict) -> str:
    parts = []
    for name in (SOURCE_DB, SOURCE_TABLE):
        value = source.get(name)
        if not isinstance(value, str) or not value:
            raise DecodeError("not_an_envelope", f"source.{name} must be a non-empty string, found {_show(value)}")
        parts.append(value)
    return ".".join(parts)


def _source_ts_ms(source: dict, table: str) -> int:
    if source.get(SOURCE_TS_MS) is None:
        raise DecodeError("not_an_envelope", f"{table}: source.ts_ms is missing")
    ts_ms = source[SOURCE_TS_MS]
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        raise DecodeError("type_mismatch", f"{table}: source.ts_ms: expected epoch milliseconds (int64), found {_show(ts_ms)}")
    return ts_ms


def _source_position(source: dict, table: str) -> tuple[str, int, int, int]:
    file_name, pos, row = source.get(SOURCE_FILE), source.get(SOURCE_POS), source.get(SOURCE_ROW)
    if not isinstance(file_name, str) or not file_name:
        raise DecodeError(
            "missing_source_position", f"{table}: source.file must name the binlog file, found {_show(file_name)}"
        )
    for name, value in ((SOURCE_POS, pos), (SOURCE_ROW, row)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(
                "missing_source_position", f"{table}: source.{name} must be an integer, found {_show(value)}"
            )
    try:
        seq = change_sequence(binlog_file_number(file_name), pos, row)
    except SequenceError as err:
        raise DecodeError("missing_source_position", f"{table}: unusable binlog coordinates: {err}") from err
    return file_name, pos, row, seq


def _image_schemas(schema: dict, table: str) -> dict[str, dict]:
    fields = schema.get("fields")
    if schema.get("type") != "struct" or not isinstance(fields, list):
        raise DecodeError("not_an_envelope", f"{table}: the embedded schema must be a struct with fields, found {_show(schema)}")
    found = {f.get("field"): f for f in fields if isinstance(f, dict)}
    out = {}
    for name in (BEFORE, AFTER):
        image = found.get(name)
        if not isinstance(image, dict):
            raise DecodeError("not_an_envelope", f"{table}: the embedded schema has no {name!r} field")
        out[name] = image
    return out


# --- row images ---------------------------------------------------------------------------------------


class _Mismatch(Exception):
    """Raised by a converter; turned into DecodeError(type_mismatch) with the column named."""

    def __init__(self, expected: str, found: Any = None, detail: str = ""):
        super().__init__(expected)
        self.expected, self.found, self.detail = expected, found, detail


Converter = Callable[[Any], Any]


def _decode_image(image: Any, schema: dict, table: str, label: str) -> tuple[tuple[Column, ...], dict]:
    """Decode one row image (before / after / key payload) by its struct schema."""
    fields = schema.get("fields")
    if schema.get("type") != "struct" or not isinstance(fields, list):
        raise DecodeError("schema_incompatible", f"{table}: the {label} schema must be a struct with fields, found {_show(schema)}")
    if not isinstance(image, dict):
        raise DecodeError("not_an_envelope", f"{table}: the {label} image must be an object, found {_show(image)}")
    columns: list[Column] = []
    row: dict = {}
    for field in fields:
        column, convert = _column_for(field, table, label)
        if column.name in row:
            raise DecodeError("schema_incompatible", f"{table}: the {label} schema lists column {column.name!r} twice")
        raw = image.get(column.name)
        if raw is None:
            if not column.nullable:
                raise DecodeError(
                    "type_mismatch",
                    f"column {table}.{column.name} in the {label} image: expected a non-null {column.type} "
                    "(the schema says optional=false), found null",
                )
            value = None
        else:
            try:
                value = convert(raw)
            except _Mismatch as err:
                detail = f" ({err.detail})" if err.detail else ""
                raise DecodeError(
                    "type_mismatch",
                    f"column {table}.{column.name} in the {label} image: expected {err.expected}, "
                    f"found {_show(err.found if err.found is not None else raw)}{detail}",
                ) from None
        columns.append(column)
        row[column.name] = value
    extra = sorted(set(image) - set(row))
    if extra:
        raise DecodeError(
            "schema_incompatible",
            f"{table}: the {label} image has fields that are not in its schema: {extra} "
            f"(schema columns: {list(row)})",
        )
    return tuple(columns), row


# Field schema -> (Column, converter); every message repeats its schema, so decoding it once pays.
_COLUMN_CACHE: dict[tuple, tuple[Column, Converter]] = {}
_COLUMN_CACHE_SIZE = 10_000


def _column_for(field: Any, table: str, label: str) -> tuple[Column, Converter]:
    if not isinstance(field, dict) or not isinstance(field.get("field"), str) or not field["field"]:
        raise DecodeError("schema_incompatible", f"{table}: a field of the {label} schema has no name: {_show(field)}")
    params = field.get("parameters")
    try:
        cache_key = (field["field"], field.get("type"), field.get("name"), field.get("optional") is True,
                     tuple(params.items()) if isinstance(params, dict) else params)
        cached = _COLUMN_CACHE.get(cache_key)
    except TypeError:  # an unhashable oddity in the schema: decode it uncached
        cache_key = cached = None
    if cached is not None:
        return cached
    name = field["field"]
    try:
        spark_type, convert = _codec(field)
    except _Unsupported as err:
        raise DecodeError("schema_incompatible", f"column {table}.{name} in the {label} schema: {err}") from None
    result = (Column(name, spark_type, field.get("optional") is True), convert)
    if cache_key is not None and len(_COLUMN_CACHE) < _COLUMN_CACHE_SIZE:
        _COLUMN_CACHE[cache_key] = result
    return result


class _Unsupported(Exception):
    pass


def _codec(field: dict) -> tuple[str, Converter]:
    """(Spark type, converter) for one field schema."""
    kind, name = field.get("type"), field.get("name")
    if not isinstance(kind, str) or (name is not None and not isinstance(name, str)):
        raise _Unsupported(f"schema type and name must be strings, found type={kind!r} name={name!r}")
    if kind in ("struct", "array", "map"):
        raise _Unsupported(f"type {kind!r}{f' ({name})' if name else ''} is not supported; only scalar columns are")
    if name == "org.apache.kafka.connect.data.Decimal":
        return _decimal_codec(field)
    named = _NAMED.get((name, kind))
    if named is not None:
        return named
    primitive = _PRIMITIVES.get(kind)
    if primitive is None:
        raise _Unsupported(f"unknown schema type {kind!r}")
    return primitive


def _decimal_codec(field: dict) -> tuple[str, Converter]:
    params = field.get("parameters") or {}
    try:
        scale = int(params["scale"])
    except (KeyError, TypeError, ValueError):
        raise _Unsupported(f"Decimal needs an integer 'scale' parameter, found {params!r}") from None
    raw_precision = params.get("connect.decimal.precision")
    try:
        precision = _MAX_DECIMAL_PRECISION if raw_precision is None else int(raw_precision)
    except (TypeError, ValueError):
        raise _Unsupported(f"connect.decimal.precision must be an integer, found {raw_precision!r}") from None
    precision = min(precision, _MAX_DECIMAL_PRECISION)
    if not 0 <= scale <= precision or precision < 1:
        raise _Unsupported(f"Decimal precision {precision} / scale {scale} cannot be a Spark decimal (0 <= scale <= precision <= 38)")
    spark_type = f"decimal({precision},{scale})"
    exponent = decimal.Decimal(1).scaleb(-scale, _WIDE)

    def convert(value: Any) -> decimal.Decimal:
        if isinstance(value, str):
            raw = _base64(value, spark_type)
            if not raw:
                raise _Mismatch(f"{spark_type} as base64 two's complement bytes", value, "no bytes")
            unscaled = int.from_bytes(raw, "big", signed=True)
            result = decimal.Decimal((1 if unscaled < 0 else 0, tuple(int(d) for d in str(abs(unscaled))), -scale))
        elif isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):  # decimal.format=NUMERIC
            number = decimal.Decimal(value)
            if not number.is_finite():
                raise _Mismatch(spark_type, value)
            try:
                result = number.quantize(exponent, context=_WIDE)
            except decimal.InvalidOperation:
                raise _Mismatch(spark_type, value, f"more than {precision} digits") from None
            if result != number:
                raise _Mismatch(spark_type, value, f"more than {scale} decimal places")
            unscaled = int(result.scaleb(scale, _WIDE))
        else:
            raise _Mismatch(f"{spark_type} as a base64 string", value)
        if len(str(abs(unscaled))) > precision:
            raise _Mismatch(spark_type, value, f"{result} has more than {precision} digits")
        return result

    return spark_type, convert


def _base64(value: str, expected: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Mismatch(f"{expected} as base64", value, "invalid base64") from None
    if raw == _UNAVAILABLE_BYTES:
        raise _Mismatch(expected, value, _UNAVAILABLE_DETAIL)
    return raw


_UNAVAILABLE_DETAIL = (
    f"Debezium's placeholder {UNAVAILABLE_VALUE!r} means the value was not captured; writing it would "
    "overwrite real data, so the event is rejected"
)


def _int(bits: int) -> Converter:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch(f"int{bits} (a JSON integer)", value)
        if not low <= value <= high:
            raise _Mismatch(f"int{bits} in [{low}, {high}]", value)
        return value

    return convert


def _float(bits: int) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):  # Jackson writes these as strings
            return float(value.replace("Infinity", "inf"))
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise _Mismatch(f"float{bits} (a JSON number)", value)
        return float(value)

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Mismatch("string", value)
    if value == UNAVAILABLE_VALUE:
        raise _Mismatch("string", value, _UNAVAILABLE_DETAIL)
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch("boolean (true/false)", value)
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _Mismatch("bytes as a base64 string", value)
    return _base64(value, "bytes")


def _date(value: Any) -> date:
    days = _int(32)(value)
    try:
        return _EPOCH_DATE + timedelta(days=days)
    except OverflowError:
        raise _Mismatch("a date (days since 1970-01-01) within years 1..9999", value) from None


def _naive_timestamp(per_second: int, unit: str) -> Converter:
    def convert(value: Any) -> datetime:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch(f"a timestamp in epoch {unit} (int64)", value)
        micros = value * 1_000_000 // per_second  # floor: deterministic, keeps the order
        try:
            return _EPOCH_NAIVE + timedelta(microseconds=micros)
        except OverflowError:
            raise _Mismatch(f"a timestamp in epoch {unit} within years 1..9999", value) from None

    return convert


_ZONED = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}(?::\d{2})?)$", re.ASCII
)


def _zoned_timestamp(value: Any) -> datetime:
    expected = "an ISO-8601 timestamp with zone like '2026-11-22T04:04:35.799731Z'"
    if not isinstance(value, str):
        raise _Mismatch(expected, value)
    if value == UNAVAILABLE_VALUE:
        raise _Mismatch(expected, value, _UNAVAILABLE_DETAIL)
    match = _ZONED.fullmatch(value)
    if match is None:
        raise _Mismatch(expected, value)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    micros = int((fraction + "000000")[:6])  # digits past microseconds are truncated
    try:
        if zone == "Z":
            tz = timezone.utc
        else:
            sign = -1 if zone[0] == "-" else 1
            parts = [int(p) for p in zone[1:].split(":")]
            tz = timezone(sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2] if len(parts) > 2 else 0))
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as err:
        raise _Mismatch(expected, value, str(err)) from None


def _duration(per_second: int, unit: str, bits: int) -> Converter:
    check = _int(bits)

    def convert(value: Any) -> str:
        try:
            amount = check(value)
        except _Mismatch:
            raise _Mismatch(f"a time of day in {unit} (int{bits})", value) from None
        sign = "-" if amount < 0 else ""
        micros = abs(amount) * 1_000_000 // per_second  # truncated toward zero
        hours, rest = divmod(micros, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, micros = divmod(rest, 1_000_000)
        return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}"

    return convert


_PRIMITIVES: dict[str, tuple[str, Converter]] = {
    "boolean": ("boolean", _boolean),
    "int8": ("tinyint", _int(8)),
    "int16": ("smallint", _int(16)),
    "int32": ("int", _int(32)),
    "int64": ("bigint", _int(64)),
    "float32": ("float", _float(32)),
    "float64": ("double", _float(64)),
    "string": ("string", _string),
    "bytes": ("binary", _bytes),
}

# (semantic name, primitive type) -> (Spark type, converter). Unknown names use _PRIMITIVES.
_NAMED: dict[tuple[str, str], tuple[str, Converter]] = {
    ("io.debezium.time.Date", "int32"): ("date", _date),
    ("org.apache.kafka.connect.data.Date", "int32"): ("date", _date),
    ("io.debezium.time.Timestamp", "int64"): ("timestamp_ntz", _naive_timestamp(1_000, "milliseconds")),
    ("io.debezium.time.MicroTimestamp", "int64"): ("timestamp_ntz", _naive_timestamp(1_000_000, "microseconds")),
    ("io.debezium.time.NanoTimestamp", "int64"): ("timestamp_ntz", _naive_timestamp(1_000_000_000, "nanoseconds")),
    ("org.apache.kafka.connect.data.Timestamp", "int64"): ("timestamp_ntz", _naive_timestamp(1_000, "milliseconds")),
    ("io.debezium.time.ZonedTimestamp", "string"): ("timestamp", _zoned_timestamp),
    ("io.debezium.time.Time", "int32"): ("string", _duration(1_000, "milliseconds", 32)),
    ("org.apache.kafka.connect.data.Time", "int32"): ("string", _duration(1_000, "milliseconds", 32)),
    ("io.debezium.time.MicroTime", "int64"): ("string", _duration(1_000_000, "microseconds", 64)),
    ("io.debezium.time.NanoTime", "int64"): ("string", _duration(1_000_000_000, "nanoseconds", 64)),
    ("io.debezium.time.Year", "int32"): ("int", _int(32)),
    ("io.debezium.data.Bits", "bytes"): ("binary", _bytes),
    ("io.debezium.data.Json", "string"): ("string", _string),
    ("io.debezium.data.Enum", "string"): ("string", _string),
    ("io.debezium.data.EnumSet", "string"): ("string", _string),
}


# --- keys ---------------------------------------------------------------------------------------------


def _decode_kafka_key(key: bytes | None, table: str) -> dict | None:
    if key is None or len(key) == 0:
        return None
    document = _parse_json(key, "key")
    if not isinstance(document, dict) or SCHEMA not in document or PAYLOAD not in document:
        raise DecodeError(
            "not_an_envelope", f"{table}: the Kafka key must be a JSON object with schema and payload, found {_show(document)}"
        )
    if document[PAYLOAD] is None:
        return None
    schema = document[SCHEMA]
    if not isinstance(schema, dict):
        raise DecodeError("not_an_envelope", f"{table}: the Kafka key has no schema object, found {_show(schema)}")
    _, values = _decode_image(document[PAYLOAD], schema, table, "key")
    return values


def _resolve_key(
    table: str,
    kafka_key: dict | None,
    key_columns: tuple[str, ...] | None,
    row: dict,
    columns: tuple[Column, ...],
    row_label: str,
) -> dict:
    names = [c.name for c in columns]
    if key_columns is not None:
        missing = [c for c in key_columns if c not in row]
        if missing:
            raise DecodeError(
                "missing_key",
                f"{table}: key column(s) {missing} are not columns of the {row_label} image (columns: {names})",
            )
        key = {c: row[c] for c in key_columns}
        if kafka_key is not None and set(kafka_key) != set(key_columns):
            raise DecodeError(
                "schema_incompatible",
                f"{table}: the Kafka key has columns {list(kafka_key)} but the configured key columns are {list(key_columns)}",
            )
    elif kafka_key is not None:
        outside = [c for c in kafka_key if c not in row]
        if outside:
            raise DecodeError(
                "schema_incompatible",
                f"{table}: Kafka key column(s) {outside} are not columns of the {row_label} image (columns: {names})",
            )
        key = dict(kafka_key)
    else:
        raise DecodeError(
            "missing_key",
            f"{table}: the record has no Kafka key and no key columns are configured, so the row cannot be identified",
        )
    nulls = [c for c, v in key.items() if v is None]
    if nulls:
        raise DecodeError("missing_key", f"{table}: key column(s) {nulls} are null in the {row_label} image")
    if kafka_key is not None:
        for column, value in kafka_key.items():
            if row[column] != value:
                raise DecodeError(
                    "missing_key",
                    f"{table}: the Kafka key says {column}={value!r} but the {row_label} image has "
                    f"{column}={row[column]!r}",
                )
    return key


# --- JSON for people and for the `_before` column -----------------------------------------------------


def image_to_json(image: Mapping[str, Any]) -> str:
    """A decoded row image as compact JSON (`_before`): decimals as exact JSON numbers, dates and
    timestamps as ISO-8601 (aware ones in UTC with 'Z'), bytes as base64, non-finite floats as strings."""
    return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + _json_value(v) for k, v in image.items()) + "}"


def _json_value(value: Any) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else json.dumps(str(value))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return json.dumps(value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z")
        return json.dumps(value.isoformat(timespec="microseconds"))
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, (bytes, bytearray)):
        return json.dumps(base64.b64encode(bytes(value)).decode("ascii"))
    raise TypeError(f"cannot write {type(value).__name__} as JSON: {value!r}")


def _show(value: Any, limit: int = 80) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"
