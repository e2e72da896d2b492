"""Debezium's column types: a field of the embedded schema -> (Spark SQL type, converter of its JSON value).

Embedded schema -> Spark SQL type -> Python value (the converter's result):

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
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

UNAVAILABLE_VALUE = "__debezium_unavailable_value"
_UNAVAILABLE_BYTES = UNAVAILABLE_VALUE.encode("utf-8")
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_NAIVE = datetime(1970, 1, 1)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_DECIMAL_PRECISION = 38
_WIDE = decimal.Context(prec=200, traps=[decimal.InvalidOperation])


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark SQL type string, see the module doc
    nullable: bool


class ValueMismatch(Exception):
    """Raised by a converter; turned into DecodeError(type_mismatch) with the column named."""

    def __init__(self, expected: str, found: Any = None, detail: str = ""):
        super().__init__(expected)
        self.expected, self.found, self.detail = expected, found, detail


Converter = Callable[[Any], Any]


class UnsupportedType(Exception):
    """A field schema no sink column can hold (struct/array/map, an unknown type, a bad Decimal)."""


def codec(field: dict) -> tuple[str, Converter]:
    """(Spark type, converter) for one field schema."""
    kind, name = field.get("type"), field.get("name")
    if not isinstance(kind, str) or (name is not None and not isinstance(name, str)):
        raise UnsupportedType(f"schema type and name must be strings, found type={kind!r} name={name!r}")
    if kind in ("struct", "array", "map"):
        raise UnsupportedType(f"type {kind!r}{f' ({name})' if name else ''} is not supported; only scalar columns are")
    if name == "org.apache.kafka.connect.data.Decimal":
        return _decimal_codec(field)
    named = _NAMED.get((name, kind))
    if named is not None:
        return named
    primitive = _PRIMITIVES.get(kind)
    if primitive is None:
        raise UnsupportedType(f"unknown schema type {kind!r}")
    return primitive


def _decimal_codec(field: dict) -> tuple[str, Converter]:
    params = field.get("parameters") or {}
    try:
        scale = int(params["scale"])
    except (KeyError, TypeError, ValueError):
        raise UnsupportedType(f"Decimal needs an integer 'scale' parameter, found {params!r}") from None
    raw_precision = params.get("connect.decimal.precision")
    try:
        precision = _MAX_DECIMAL_PRECISION if raw_precision is None else int(raw_precision)
    except (TypeError, ValueError):
        raise UnsupportedType(f"connect.decimal.precision must be an integer, found {raw_precision!r}") from None
    precision = min(precision, _MAX_DECIMAL_PRECISION)
    if not 0 <= scale <= precision or precision < 1:
        raise UnsupportedType(f"Decimal precision {precision} / scale {scale} cannot be a Spark decimal (0 <= scale <= precision <= 38)")
    spark_type = f"decimal({precision},{scale})"
    exponent = decimal.Decimal(1).scaleb(-scale, _WIDE)

    def convert(value: Any) -> decimal.Decimal:
        if isinstance(value, str):
            raw = _base64(value, spark_type)
            if not raw:
                raise ValueMismatch(f"{spark_type} as base64 two's complement bytes", value, "no bytes")
            unscaled = int.from_bytes(raw, "big", signed=True)
            result = decimal.Decimal((1 if unscaled < 0 else 0, tuple(int(d) for d in str(abs(unscaled))), -scale))
        elif isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):  # decimal.format=NUMERIC
            number = decimal.Decimal(value)
            if not number.is_finite():
                raise ValueMismatch(spark_type, value)
            try:
                result = number.quantize(exponent, context=_WIDE)
            except decimal.InvalidOperation:
                raise ValueMismatch(spark_type, value, f"more than {precision} digits") from None
            if result != number:
                raise ValueMismatch(spark_type, value, f"more than {scale} decimal places")
            unscaled = int(result.scaleb(scale, _WIDE))
        else:
            raise ValueMismatch(f"{spark_type} as a base64 string", value)
        if len(str(abs(unscaled))) > precision:
            raise ValueMismatch(spark_type, value, f"{result} has more than {precision} digits")
        return result

    return spark_type, convert


def _base64(value: str, expected: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueMismatch(f"{expected} as base64", value, "invalid base64") from None
    if raw == _UNAVAILABLE_BYTES:
        raise ValueMismatch(expected, value, _UNAVAILABLE_DETAIL)
    return raw


_UNAVAILABLE_DETAIL = (
    f"Debezium's placeholder {UNAVAILABLE_VALUE!r} means the value was not captured; writing it would "
    "overwrite real data, so the event is rejected"
)


def _int(bits: int) -> Converter:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueMismatch(f"int{bits} (a JSON integer)", value)
        if not low <= value <= high:
            raise ValueMismatch(f"int{bits} in [{low}, {high}]", value)
        return value

    return convert


def _float(bits: int) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):  # Jackson writes these as strings
            return float(value.replace("Infinity", "inf"))
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise ValueMismatch(f"float{bits} (a JSON number)", value)
        return float(value)

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueMismatch("string", value)
    if value == UNAVAILABLE_VALUE:
        raise ValueMismatch("string", value, _UNAVAILABLE_DETAIL)
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueMismatch("boolean (true/false)", value)
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueMismatch("bytes as a base64 string", value)
    return _base64(value, "bytes")


def _date(value: Any) -> date:
    days = _int(32)(value)
    try:
        return _EPOCH_DATE + timedelta(days=days)
    except OverflowError:
        raise ValueMismatch("a date (days since 1970-01-01) within years 1..9999", value) from None


def _naive_timestamp(per_second: int, unit: str) -> Converter:
    def convert(value: Any) -> datetime:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueMismatch(f"a timestamp in epoch {unit} (int64)", value)
        micros = value * 1_000_000 // per_second  # floor: deterministic, keeps the order
        try:
            return _EPOCH_NAIVE + timedelta(microseconds=micros)
        except OverflowError:
            raise ValueMismatch(f"a timestamp in epoch {unit} within years 1..9999", value) from None

    return convert


_ZONED = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}(?::\d{2})?)$", re.ASCII
)


def _zoned_timestamp(value: Any) -> datetime:
    expected = "an ISO-8601 timestamp with zone like '2026-11-22T04:04:35.799731Z'"
    if not isinstance(value, str):
        raise ValueMismatch(expected, value)
    if value == UNAVAILABLE_VALUE:
        raise ValueMismatch(expected, value, _UNAVAILABLE_DETAIL)
    match = _ZONED.fullmatch(value)
    if match is None:
        raise ValueMismatch(expected, value)
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
        raise ValueMismatch(expected, value, str(err)) from None


def _duration(per_second: int, unit: str, bits: int) -> Converter:
    check = _int(bits)

    def convert(value: Any) -> str:
        try:
            amount = check(value)
        except ValueMismatch:
            raise ValueMismatch(f"a time of day in {unit} (int{bits})", value) from None
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

