"""One step turns a Kafka micro-batch into a planned batch, built once and shared by every sink:
decoded rows (persisted), the summary, each table's schema plan and typed frame, the dead letters.

Planning reads the schema registry (what the tables looked like after the last batch) and nothing of
any sink; the sinks read only the planned batch.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .batch import BatchSummary, batch_groups, columns_to_json, end_offsets, summarize, typed_changes
from .config import PipelineConfig, TableConfig
from .dead_letters import dead_letter_frame, mark_nul_values, mark_rejected
from .debezium import Column
from .jvm_decode import decode_batch_jvm
from .schema_plan import SchemaPlan, plan_columns

log = logging.getLogger(__name__)


@dataclass
class PlannedTable:
    config: TableConfig
    schema: SchemaPlan
    changes: object  # DataFrame: typed source columns + metadata + _key (batch.typed_changes), persisted

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class PlannedBatch:
    batch_id: int
    summary: BatchSummary
    tables: tuple[PlannedTable, ...]
    dead_letters: object | None  # DataFrame of dead_letters.DEAD_LETTER_COLUMNS, or None
    end_offsets: dict[str, dict[str, int]]
    _persisted: list = field(default_factory=list, repr=False)

    def tables_for(self, sink: str) -> list[PlannedTable]:
        """The batch's tables that are configured with this sink."""
        return [t for t in self.tables if sink in t.config.sinks]

    @property
    def schemas(self) -> dict[str, tuple[Column, ...]]:
        """Each planned table's columns after this batch (what the schema registry records)."""
        return {t.name: tuple(t.schema.columns) for t in self.tables}

    def release(self) -> None:
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()


Decoder = Callable[[object, dict, int | None], object]


def plan_batch(batch_df, batch_id: int, config: PipelineConfig, registered: dict[str, tuple[Column, ...]],
               decode: Decoder = decode_batch_jvm) -> PlannedBatch:
    """Decode, summarise, plan the schemas and build the typed frames of one micro-batch.

    `decode`: the JVM decoder (no Python worker on the hot path); batch.decode_batch, the Python
    reference it is tested against, decodes identically.

    `registered`: the schema registry's columns per table name. Change events whose column set cannot
    be applied (a missing key column, an incompatible type change) become dead letters, here, once.
    """
    from pyspark import StorageLevel

    by_topic = {t.topic: t for t in config.tables}
    decoded = mark_nul_values(decode(batch_df, {t.topic: t.decode_key_columns for t in config.tables},
                                     config.source.max_record_bytes))
    decoded = decoded.persist(StorageLevel.MEMORY_AND_DISK)
    persisted = [decoded]
    try:
        groups = batch_groups(decoded)
        seen = summarize(groups)
        plans: dict[str, SchemaPlan] = {}
        rejected = []
        for topic, column_sets in seen.column_sets.items():
            table = by_topic[topic]
            plan = plan_columns(table.name, registered.get(table.name), column_sets, table.key_columns)
            plans[topic] = plan
            rejected += [(topic, cols, reason) for cols, reason in plan.rejected.items()]
        summary = seen
        if rejected:
            decoded = mark_rejected(decoded, rejected)
            summary = summarize(groups, frozenset((t, columns_to_json(c)) for t, c, _ in rejected))
            for topic, _cols, reason in rejected:
                log.warning("batch %s: %s (its events go to the dead letters)", batch_id, reason)
        tables = []
        for topic, plan in plans.items():
            if not plan.columns or topic not in summary.column_sets:
                continue  # every change of the table was rejected
            changes = typed_changes(decoded, topic, tuple(plan.columns), batch_id, plan.sources).persist(StorageLevel.MEMORY_AND_DISK)
            persisted.append(changes)
            tables.append(PlannedTable(by_topic[topic], plan, changes))
        dead = dead_letter_frame(decoded, batch_df, batch_id) if summary.dead_letters else None
        return PlannedBatch(batch_id, summary, tuple(tables), dead, end_offsets(groups), persisted)
    except BaseException:
        for frame in persisted:
            frame.unpersist()
        raise
