"""The metadata columns the pipeline adds to every change row, listed once.

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

These are the columns of a "staging row" (source columns + metadata) that both sinks are fed from.
The warehouse adds `_history_id`, `_change_type` and `_loaded_at` itself.
"""
from __future__ import annotations

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


def check_source_columns(columns: Iterable[Column]) -> None:
    """Raise SchemaError if a source column is named like a metadata column, or twice."""
    seen: set[str] = set()
    for column in columns:
        if column.name in METADATA_NAMES:
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
