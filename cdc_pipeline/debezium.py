"""The only module that knows the Debezium envelope: Kafka record -> typed `ChangeEvent`.

Messages come from Kafka Connect's JsonConverter with schemas enabled:

    key   = {"schema": {...}, "payload": {"id": 3}}                    (null for tables without a key)
    value = {"schema": {...}, "payload": {"before": {...} | null, "after": {...} | null,
             "source": {"db", "table", "ts_ms", "file", "pos", "row", ...}, "op": "r|c|u|d", "ts_ms"}}
    value = null                                                         (tombstone after a delete)

Every value is decoded by the schema embedded in its own message; no table shape is assumed.

Every column value is converted by cdc_pipeline.debezium_types (the type table is there).
"""
from __future__ import annotations

import base64
import decimal
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .debezium_types import EPOCH_UTC, UNAVAILABLE_VALUE, Column, Converter, UnsupportedType, ValueMismatch, codec
from .errors import DecodeError, SequenceError
from .ordering import binlog_file_number, change_sequence

__all__ = ["UNAVAILABLE_VALUE", "ChangeEvent", "Column", "decode_record", "image_to_json", "key_columns_of"]


OPS = ("r", "c", "u", "d")
EMPTY_VALUE = ("the value is empty (0 bytes), not null: Debezium writes a tombstone as a null value, so this "
               "record is neither a change event nor a tombstone")
TRUNCATE_NOT_APPLIED = ("TRUNCATE TABLE in MySQL, not applied: both sinks keep the table's rows until it is "
                        "re-snapshotted (README: TRUNCATE)")
OP_TRUNCATE = "t"
CHANGE_TYPES = {"r": "SNAPSHOT", "c": "INSERT", "u": "UPDATE", "d": "DELETE"}

# Envelope paths, in one place.
PAYLOAD, SCHEMA = "payload", "schema"
BEFORE, AFTER, SOURCE, OP = "before", "after", "source", "op"
SOURCE_DB, SOURCE_TABLE, SOURCE_TS_MS = "db", "table", "ts_ms"
SOURCE_FILE, SOURCE_POS, SOURCE_ROW = "file", "pos", "row"
# Transaction metadata (provide.transaction.metadata): each change event's `transaction` block, and the
# BEGIN/END records on `<topic.prefix>.transaction` (END counts the events per data collection `<db>.<table>`).
TRANSACTION, TXN_ID, TXN_TABLE_ORDER = "transaction", "id", "data_collection_order"
TRANSACTION_TOPIC_SUFFIX = ".transaction"
TXN_STATUS, TXN_END, TXN_COLLECTIONS = "status", "END", "data_collections"
TXN_COLLECTION, TXN_EVENT_COUNT = "data_collection", "event_count"



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
        return EPOCH_UTC + timedelta(milliseconds=self.source_ts_ms)

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

    Returns None for a tombstone (a null value). Raises DecodeError (see errors.DecodeError for
    the kinds) for anything that is not a valid change event.

    key_columns: the table's primary-key columns from the configuration. When given, the key is taken
    from the row image (after for r/c/u, before for d) and a Kafka key, if present, must agree with it.
    When None, the key is the Kafka key's payload.
    """
    if key_columns is not None:
        if isinstance(key_columns, str) or not key_columns:
            raise ValueError(f"key_columns must be a non-empty sequence of column names, got {key_columns!r}")
        key_columns = tuple(key_columns)
    if value is None:
        return None
    if len(value) == 0:
        raise DecodeError("empty_value", EMPTY_VALUE)

    envelope = _parse_json(value, "value")
    payload, schema = _envelope_parts(envelope)
    op = payload[OP]
    if op == OP_TRUNCATE:
        raise DecodeError("truncate", f"{_source_table(payload[SOURCE])}: {TRUNCATE_NOT_APPLIED}")
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
            except ValueMismatch as err:
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
        spark_type, convert = codec(field)
    except UnsupportedType as err:
        raise DecodeError("schema_incompatible", f"column {table}.{name} in the {label} schema: {err}") from None
    result = (Column(name, spark_type, field.get("optional") is True), convert)
    if cache_key is not None and len(_COLUMN_CACHE) < _COLUMN_CACHE_SIZE:
        _COLUMN_CACHE[cache_key] = result
    return result


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
