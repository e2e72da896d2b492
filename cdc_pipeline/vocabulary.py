"""The pipeline's vocabulary, defined once: the metadata columns it adds, the names of the sink tables,
the Spark column types it knows, and the rule that orders and identifies changes. Both SQL
generators (Iceberg's Spark SQL, PostgreSQL's) and `make verify` read them from here.

Metadata columns of every change row ("staging row": source columns + these):

    _op               Debezium operation: r (snapshot read), c (insert), u (update), d (delete)
    _seq              ordering.change_sequence of the binlog coordinates; decimal(38,0), larger is later
    _source_ts        commit time in MySQL (source.ts_ms), an instant
    _binlog_file      binlog coordinates: file name,
    _binlog_pos         position of the row event,
    _binlog_row         row within the event
    _kafka_topic      where the event sits in Kafka (unique per event)
    _kafka_partition
    _kafka_offset
    _batch_id         the streaming micro-batch that loaded the row
    _before           the before image as JSON text (updates and deletes), else null

The warehouse adds `_history_id`, `_change_type` and `_loaded_at` itself. A MySQL column named like any
of these (or `_key`, `_rank`) is stored as `src` + its name (sink_column_name), never a crash.

Ordering and identity: of two changes of one key the later is the one with the larger `_seq`, then
(the same change delivered twice by Kafka Connect) the larger Kafka offset. A change is identified by
its key and `_seq`: the same (key, `_seq`) at two offsets is one change, kept once.
"""
from __future__ import annotations

import hashlib

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .debezium import ChangeEvent, Column
from .errors import SchemaError

METADATA_COLUMNS: tuple[Column, ...] = (
    Column("_op", "string", False),
    Column("_seq", "decimal(38,0)", False),
    Column("_source_ts", "timestamp", False),
    Column("_binlog_file", "string", False),
    Column("_binlog_pos", "bigint", False),
    Column("_binlog_row", "int", False),
    Column("_kafka_topic", "string", False),
    Column("_kafka_partition", "int", False),
    Column("_kafka_offset", "bigint", False),
    Column("_batch_id", "bigint", False),
    Column("_before", "string", True),
)
METADATA_NAMES: frozenset[str] = frozenset(c.name for c in METADATA_COLUMNS) | {"_history_id", "_change_type", "_loaded_at"}
# Beside the metadata, the batch's frames carry `_key` (batch.typed_changes) and the Iceberg MERGE `_rank`.
RESERVED_NAMES: frozenset[str] = METADATA_NAMES | {"_key", "_rank"}
RENAME_PREFIX = "src"


def is_reserved(name: str) -> bool:
    """A name the pipeline uses itself; compared case-insensitively, as MySQL and Spark resolve names."""
    return name.lower() in RESERVED_NAMES


MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1; longer names are silently truncated


def shortened(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`name` if it fits `limit` UTF-8 bytes, else its longest prefix that leaves room for `_` and 8 hex
    digits of its SHA-1: deterministic, and two long names with one prefix stay apart."""
    if len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return name.encode("utf-8")[:limit - len(digest) - 1].decode("utf-8", "ignore") + "_" + digest


def mysql_column_name(field: str) -> str:
    """MySQL's name of the column a Debezium field holds. Debezium 3.5's MariaDB DDL parser keeps a
    backtick of a quoted name escaped: MySQL's `back``tick` (the name back`tick) arrives as the field
    "back``tick"."""
    return field.replace("``", "`")


def sink_column_name(name: str) -> str:
    """The name a source column has in both sinks: its own, or, when the pipeline uses that name,
    RENAME_PREFIX + it (`_op` -> `src_op`, `_KEY` -> `src_KEY`), shortened to PostgreSQL's 63 bytes
    (MySQL allows 64 characters). `_before` keeps MySQL's names."""
    return shortened(RENAME_PREFIX + name if is_reserved(name) else name)
_META = {c.name: c for c in METADATA_COLUMNS}
# Beyond the source row: Iceberg <name>_current keeps these; <name>_changes keeps all the metadata.
CURRENT_META: tuple[Column, ...] = tuple(_META[n] for n in ("_op", "_seq", "_source_ts", "_batch_id"))
CHANGES_META: tuple[Column, ...] = METADATA_COLUMNS

# --- sink table names ---------------------------------------------------------------------------------

HISTORY_SUFFIX, CURRENT_SUFFIX, CHANGES_SUFFIX, VERSIONS_SUFFIX = "_history", "_current", "_changes", "_versions"
LONGEST_SUFFIX = max(len(HISTORY_SUFFIX), len(CURRENT_SUFFIX), len(CHANGES_SUFFIX), len(VERSIONS_SUFFIX))


def history_table(name: str) -> str:
    """PostgreSQL: every change once."""
    return name + HISTORY_SUFFIX


def current_table(name: str) -> str:
    """Both sinks: one row per key, equal to the MySQL table."""
    return name + CURRENT_SUFFIX


def changes_table(name: str) -> str:
    """Iceberg: every change once (the lake's history)."""
    return name + CHANGES_SUFFIX


def versions_table(name: str) -> str:
    """Both sinks: a view, one row per version of a key (SCD type 2), over the history / change log."""
    return name + VERSIONS_SUFFIX


# Snapshot summary properties of every Iceberg commit the job makes (replay detection), and of every
# append to a change log: the largest `_seq` the log then holds (cdc_pipeline.sinks.iceberg).
QUERY_ID_PROP, BATCH_ID_PROP = "cdc.query-id", "cdc.batch-id"
CHANGES_HWM_PROP = "cdc.changes-hwm"

# --- ordering and identity ----------------------------------------------------------------------------

# Later change first: ORDER BY _seq DESC, _kafka_offset DESC.
LATEST_FIRST: tuple[str, ...] = ("_seq", "_kafka_offset")
# A change is its key plus this.
CHANGE_IDENTITY: tuple[str, ...] = ("_seq",)


def latest_first(quote, alias: str | None = None) -> str:
    """The ORDER BY list that puts a key's latest change first, with `quote` the dialect's identifier
    quoting and `alias` the (already quoted) table alias."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(c)} DESC" for c in LATEST_FIRST)


# --- versions (SCD type 2) ------------------------------------------------------------------------------

# The view's own columns, before `_seq` and the source columns: when the version began and ended (the
# MySQL commit times of the change that opened it and of the key's next change), whether it is the live
# one, and the operation that opened it (r, c or u; a delete opens no version, it closes one).
VERSION_COLUMNS: tuple[str, ...] = ("valid_from", "valid_to", "is_current", "opened_by")


def versions_view_columns(source_columns: Iterable[str]) -> list[tuple[str, str]]:
    """(column of the history, its name in the versions view): a source column named like one of the
    view's own columns is shown as `src_` + its name there (the history keeps its name)."""
    own = {c.lower() for c in (*VERSION_COLUMNS, "_seq")}
    return [(c, shortened(f"{RENAME_PREFIX}_{c}") if c.lower() in own else c) for c in source_columns]


def versions_select(source: str, source_columns: Iterable[str], key_columns: Iterable[str], quote) -> str:
    """The versions of every key of a change log (PostgreSQL's <name>_history, Iceberg's <name>_changes),
    in SQL both dialects run: a version runs from its change's `_source_ts` to the key's next change's
    (null while live), ordered by LATEST_FIRST reversed; deletes only close. `source` is the quoted
    relation, `quote` the dialect's identifier quoting."""
    columns = versions_view_columns(source_columns)
    keys = ", ".join(quote(k) for k in key_columns)
    order = ", ".join(quote(c) for c in LATEST_FIRST)
    inner = ", ".join(quote(c) if c == name else f"{quote(c)} AS {quote(name)}" for c, name in columns)
    outer = ", ".join(quote(name) for _, name in columns)
    valid_from, valid_to, is_current, opened_by = (quote(c) for c in VERSION_COLUMNS)
    # The window inline, not a WINDOW clause: Spark cannot expand a view whose text uses one.
    return (f"SELECT {valid_from}, {valid_to}, {valid_to} IS NULL AS {is_current}, {opened_by}, {quote('_seq')}"
            f"{', ' + outer if outer else ''}\n"
            f"FROM (SELECT {quote('_source_ts')} AS {valid_from}, "
            f"LEAD({quote('_source_ts')}) OVER (PARTITION BY {keys} ORDER BY {order}) AS {valid_to}, "
            f"{quote('_op')} AS {opened_by}, {quote('_seq')}{', ' + inner if inner else ''}\n"
            f"      FROM {source}) v\n"
            f"WHERE {opened_by} <> 'd'")


# --- column types (Spark SQL type strings) --------------------------------------------------------------

SIMPLE_TYPES = ("tinyint", "smallint", "int", "bigint", "boolean", "float", "double", "string", "binary",
                "date", "timestamp", "timestamp_ntz")
INTEGER_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4}
_ALIASES = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint", "bool": "boolean"}
_DECIMAL = re.compile(r"^decimal\s*(?:\(\s*([0-9]+)\s*(?:,\s*([0-9]+)\s*)?\))?$", re.ASCII)


def spark_string_literal(text: str) -> str:
    """A Spark SQL string literal: backslash escapes (spark.sql.parser.escapedStringLiterals is off)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_spark_type(spark_type: str) -> tuple:
    """Normalise a Spark SQL type string: ('bigint',), ('decimal', 18, 2), ... Raises SchemaError."""
    if not isinstance(spark_type, str):
        raise SchemaError(f"a type must be a Spark SQL type string, got {spark_type!r}")
    text = spark_type.strip().lower()
    text = _ALIASES.get(text, text)
    if text in SIMPLE_TYPES:
        return (text,)
    match = _DECIMAL.fullmatch(text)
    if match:
        precision = int(match.group(1)) if match.group(1) else 10  # Spark's default decimal(10,0)
        scale = int(match.group(2)) if match.group(2) else 0
        if not 1 <= precision <= 38 or scale > precision:
            raise SchemaError(f"decimal precision/scale must satisfy 0 <= scale <= precision <= 38, got {spark_type!r}")
        return ("decimal", precision, scale)
    raise SchemaError(
        f"unsupported Spark type {spark_type!r}; expected one of {', '.join(SIMPLE_TYPES)}, decimal(p,s)"
    )


def is_safe_widening(old_type: str, new_type: str) -> bool:
    """True when every value of old_type fits new_type unchanged: the same type, a wider integer
    (tinyint < smallint < int < bigint), float -> double, or decimal(p,s) -> decimal(p',s) with p' >= p.
    (A MySQL VARCHAR length change is invisible here: both are `string`.)"""
    old, new = parse_spark_type(old_type), parse_spark_type(new_type)
    if old == new:
        return True
    if old[0] in INTEGER_RANK and new[0] in INTEGER_RANK:
        return INTEGER_RANK[new[0]] >= INTEGER_RANK[old[0]]
    if old == ("float",) and new == ("double",):
        return True
    if old[0] == "decimal" and new[0] == "decimal":
        return new[2] == old[2] and new[1] >= old[1]
    return False


def check_source_columns(columns: Iterable[Column]) -> None:
    """Raise SchemaError if a source column is named like a metadata column, or twice."""
    seen: set[str] = set()
    for column in columns:
        if column.name.lower() in METADATA_NAMES:
            raise SchemaError(
                f"source column {column.name!r} has the name of a pipeline metadata column "
                f"({', '.join(sorted(METADATA_NAMES))}); rename it in MySQL or exclude it from capture"
            )
        if column.name in seen:
            raise SchemaError(f"source column {column.name!r} appears twice")
        seen.add(column.name)


def staging_row(event: ChangeEvent, batch_id: int) -> dict[str, Any]:
    """The event as one staging row: its row image, then the metadata columns (Spark-ready values:
    `_seq` as Decimal for decimal(38,0), `_source_ts` as an aware UTC datetime, `_before` as JSON)."""
    if event.topic is None or event.partition is None or event.offset is None:
        raise ValueError(f"event lacks its Kafka coordinates (topic/partition/offset): {event.table} seq {event.seq}")
    check_source_columns(event.columns)
    row = dict(event.row)
    row.update(
        {
            "_op": event.op,
            "_seq": Decimal(event.seq),
            "_source_ts": event.source_ts,
            "_binlog_file": event.binlog_file,
            "_binlog_pos": event.binlog_pos,
            "_binlog_row": event.binlog_row,
            "_kafka_topic": event.topic,
            "_kafka_partition": event.partition,
            "_kafka_offset": event.offset,
            "_batch_id": batch_id,
            "_before": event.before_json(),
        }
    )
    return row
