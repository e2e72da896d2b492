"""What every sink is: a small protocol, so each of the job's streaming queries (one per sink, see
config.SinkPath) runs the same `foreachBatch`, and a new sink (say ClickHouse) is one module in this
package plus its name in `sinks:` of a table.

A sink owns its tables and its own record of what it committed, next to its data (Iceberg: the
snapshot summaries; PostgreSQL: `cdc_batches`, written in the batch's transaction): only there can
"applied" and "recorded" be one atomic step. Shared state that is not any sink's — the schema
registry and the dead letters — is the control plane's (cdc_pipeline.control).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..plan import PlannedBatch


@dataclass
class SinkResult:
    """What one sink did with one batch, for the progress line and `make status`."""
    outcome: str  # "applied" | "skipped" (already committed) | "empty" (nothing for this sink)
    tables: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # per sink table or step


class Sink(Protocol):
    name: str  # the name in a table's `sinks:` list

    def committed(self, query_id: str, batch_id: int) -> bool:
        """True when this sink knows the whole batch is applied (a replay after a crash)."""

    def write(self, planned: PlannedBatch, query_id: str) -> SinkResult:
        """Create or evolve this sink's tables for the batch's schema plans, then apply the batch's
        changes of the tables configured with this sink, idempotently for (query_id, batch id)."""

    def reset(self) -> None:
        """Forget what the sink remembers between batches (after a failed batch)."""
