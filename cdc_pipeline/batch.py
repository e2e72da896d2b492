"""Batch planning: a micro-batch of Kafka records -> decoded change rows -> typed frames per table.

Decoding runs on the executors (`mapPartitions`), never on the driver. Because each message carries
its own schema, the decoded rows have one fixed, generic shape: metadata columns plus the row image as
a map of column name -> canonical string, and the image's column list as JSON. The driver then only
collects a tiny summary (tables, ops, column lists, counts) to plan the sinks, and builds each
table's typed DataFrame by casting the canonical strings, which is exact for every type we emit.
"""
from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

from .debezium import Column, decode_record
from .errors import DecodeError

KIND_CHANGE, KIND_TOMBSTONE, KIND_ERROR = "change", "tombstone", "error"

# The generic shape of a decoded record (DDL string, so it needs no Spark import here).
DECODED_SCHEMA = ", ".join([
    "_kind string", "_kafka_topic string", "_kafka_partition int", "_kafka_offset bigint",
    "_kafka_ts timestamp", "_op string", "_seq decimal(38,0)", "_source_ts timestamp",
    "_binlog_file string", "_binlog_pos bigint", "_binlog_row int", "_key string",
    "_values map<string,string>", "_before string", "_columns string",
    "_error_kind string", "_error_reason string", "_raw_key binary", "_raw_value binary",
])


def canonical_string(value) -> str | None:
    """A value as the string Spark's CAST reads back exactly (binary as base64, see typed_column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        # The year zero-padded to four digits: glibc's %Y writes year 999 as "999", which CAST reads as NULL.
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            return f"{value.year:04d}" + value.strftime("-%m-%d %H:%M:%S.%f") + "+00:00"
        return f"{value.year:04d}" + value.strftime("-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def columns_to_json(columns) -> str:
    return json.dumps([[c.name, c.type, c.nullable] for c in columns], separators=(",", ":"))


def columns_from_json(text: str) -> tuple[Column, ...]:
    return tuple(Column(name, type_, nullable) for name, type_, nullable in json.loads(text))


TOO_LARGE = "value of {size} bytes is larger than source.max_record_bytes ({limit}); not decoded"


def decode_partition(records, key_columns_by_topic: dict[str, tuple[str, ...] | None],
                     max_record_bytes: int | None = None):
    """mapPartitions body: Kafka rows (key, value, topic, partition, offset, timestamp) -> decoded tuples.

    A record of a topic that is not configured, that does not decode, or whose value is larger than
    `max_record_bytes`, becomes an error row with the raw bytes and the reason: it goes to the dead
    letters, never silently away.
    """
    for rec in records:
        topic, partition, offset = rec["topic"], rec["partition"], rec["offset"]
        key, value, kafka_ts = rec["key"], rec["value"], rec["timestamp"]
        head = (topic, partition, offset, kafka_ts)
        if max_record_bytes and value is not None and len(value) > max_record_bytes:
            yield _error_row(head, key, value, "record_too_large", TOO_LARGE.format(size=len(value), limit=max_record_bytes))
            continue
        if topic not in key_columns_by_topic:
            yield _error_row(head, key, value, "unconfigured_topic",
                             f"topic {topic!r} is not listed under tables: in the pipeline config")
            continue
        try:
            event = decode_record(topic, partition, offset, key, value,
                                  key_columns=key_columns_by_topic[topic])
        except DecodeError as err:
            yield _error_row(head, key, value, err.kind, err.reason)
            continue
        except Exception as err:  # a decoder bug must not stop the stream either; keep the evidence
            yield _error_row(head, key, value, "decoder_failure", f"{type(err).__name__}: {err}")
            continue
        if event is None:
            yield (KIND_TOMBSTONE, *head) + (None,) * 14
            continue
        yield (KIND_CHANGE, *head, event.op, Decimal(event.seq), event.source_ts,
               event.binlog_file, event.binlog_pos, event.binlog_row,
               json.dumps([canonical_string(v) for v in event.key.values()], separators=(",", ":")),
               {name: canonical_string(v) for name, v in event.row.items()},
               event.before_json(), columns_to_json(event.columns), None, None, None, None)


def _error_row(head, key, value, kind: str, reason: str):
    return (KIND_ERROR, *head) + (None,) * 10 + (kind, reason, _bytes(key), _bytes(value))


def _bytes(raw):
    return None if raw is None else bytes(raw)


@dataclass
class BatchSummary:
    """What the driver knows about a batch before writing: small, collected from a group-by."""
    rows_in: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    ops: Counter = field(default_factory=Counter)
    # topic -> list of distinct column lists seen in this batch
    column_sets: dict[str, list[tuple[Column, ...]]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"rows_in": self.rows_in, "snapshots": self.ops["r"], "inserts": self.ops["c"],
                "updates": self.ops["u"], "deletes": self.ops["d"], "tombstones": self.tombstones,
                "dead_letters": self.dead_letters}


def summarize(groups, rejected: frozenset[tuple[str, str]] = frozenset()) -> BatchSummary:
    """groups: rows of (_kind, _kafka_topic, _op, _columns, count) from the decoded batch (more fields
    after these are ignored). Changes of a (topic, _columns) in `rejected` count as dead letters: the
    schema plan refused that column set, so they are not applied."""
    summary = BatchSummary()
    for kind, topic, op, columns, count, *_ in groups:
        summary.rows_in += count
        if kind == KIND_TOMBSTONE:
            summary.tombstones += count
        elif kind == KIND_ERROR or (topic, columns) in rejected:
            summary.dead_letters += count
        else:
            summary.ops[op] += count
            sets = summary.column_sets.setdefault(topic, [])
            cols = columns_from_json(columns)
            if cols not in sets:
                sets.append(cols)
    return summary


# --- Spark edge -------------------------------------------------------------------------------------

def decode_batch(batch_df, key_columns_by_topic: dict[str, tuple[str, ...] | None],
                 max_record_bytes: int | None = None):
    """The batch's Kafka rows decoded on the executors, as a DataFrame of DECODED_SCHEMA."""
    keys = dict(key_columns_by_topic)
    rdd = batch_df.select("key", "value", "topic", "partition", "offset", "timestamp").rdd.mapPartitions(
        lambda rows: decode_partition(rows, keys, max_record_bytes))
    return batch_df.sparkSession.createDataFrame(rdd, DECODED_SCHEMA)


def batch_groups(decoded) -> list[tuple]:
    """One small aggregation of the decoded batch, the only thing about its rows the driver collects:
    (_kind, _kafka_topic, _op, _columns, count, _kafka_partition, max offset) per group."""
    from pyspark.sql import functions as F
    return [tuple(r) for r in decoded.groupBy("_kind", "_kafka_topic", "_op", "_columns", "_kafka_partition")
            .agg(F.count(F.lit(1)), F.max("_kafka_offset")).select(
                "_kind", "_kafka_topic", "_op", "_columns", "count(1)", "_kafka_partition",
                "max(_kafka_offset)").collect()]


def end_offsets(groups) -> dict[str, dict[str, int]]:
    """{topic: {partition: next offset}} of the records in the batch (for the ledger), from batch_groups."""
    out: dict[str, dict[str, int]] = {}
    for _kind, topic, _op, _columns, _count, partition, max_offset in groups:
        per_topic = out.setdefault(topic, {})
        per_topic[str(partition)] = max(per_topic.get(str(partition), 0), max_offset + 1)
    return out


def typed_column(name: str, spark_type: str, source: str | None = None):
    """The image column `source` (default: `name`) as `spark_type` named `name`, from its canonical string."""
    from pyspark.sql import functions as F
    raw = F.col("_values").getItem(source or name)
    if spark_type == "binary":
        return F.unbase64(raw).alias(name)
    return raw.cast(spark_type).alias(name)


def typed_changes(decoded, topic: str, columns: tuple[Column, ...], batch_id: int,
                  sources: dict[str, str] | None = None):
    """One table's changes as typed columns + metadata (the 'staging row' shape of both sinks).
    `sources`: sink column name -> MySQL's, for columns stored under another name (SchemaPlan.sources)."""
    from pyspark.sql import functions as F
    sources = sources or {}
    return decoded.where((F.col("_kind") == KIND_CHANGE) & (F.col("_kafka_topic") == topic)).select(
        *[typed_column(c.name, c.type, sources.get(c.name)) for c in columns],
        "_op", "_seq", "_source_ts", "_binlog_file", "_binlog_pos", "_binlog_row",
        "_kafka_topic", "_kafka_partition", "_kafka_offset",
        F.lit(batch_id).cast("bigint").alias("_batch_id"), "_before", "_key")
