"""Progress: one JSON log line per micro-batch, and what the job's own code measured in it.

The listener runs on the driver and must not block; it only formats what Spark reports
(`onQueryProgress`: batch id, input rows, durations, the source's lag metrics) together with the
counts the batch writer recorded for that batch id.
"""
from __future__ import annotations

import json
import logging
import threading

from pyspark.sql.streaming import StreamingQueryListener

log = logging.getLogger("cdc_pipeline.progress")
LAG_METRICS = ("minOffsetsBehindLatest", "maxOffsetsBehindLatest", "avgOffsetsBehindLatest")


class BatchStats:
    """What the batch writer measured, by batch id, until the listener has logged it (bounded)."""

    def __init__(self, keep: int = 64):
        self._lock = threading.Lock()
        self._stats: dict[int, dict] = {}
        self._keep = keep

    def record(self, batch_id: int, stats: dict) -> None:
        with self._lock:
            self._stats[batch_id] = stats
            for old in sorted(self._stats)[:-self._keep]:
                del self._stats[old]

    def pop(self, batch_id: int) -> dict:
        with self._lock:
            return self._stats.pop(batch_id, {})


def progress_line(progress: dict, stats: dict) -> dict:
    """The one-line summary of a batch, from Spark's progress JSON and our own counts."""
    sources = progress.get("sources") or [{}]
    metrics = sources[0].get("metrics") or {}
    return {
        "event": "cdc_batch",
        "query": progress.get("name"),
        "batch_id": progress.get("batchId"),
        "rows_in": progress.get("numInputRows"),
        "input_rows_per_s": round(progress.get("inputRowsPerSecond") or 0.0, 1),
        "processed_rows_per_s": round(progress.get("processedRowsPerSecond") or 0.0, 1),
        "trigger_ms": (progress.get("durationMs") or {}).get("triggerExecution"),
        "lag": {k: metrics[k] for k in LAG_METRICS if k in metrics},
        "end_offsets": sources[0].get("endOffset"),
        **stats,
    }


class ProgressLogger(StreamingQueryListener):
    """Logs each batch of every query; keeps each path's entry of the status file current.

    `paths` maps a query name to its BatchStats and its status (supervisor.PathStatus or StatusFile,
    or None); progress of a query not in it is logged without our counts."""

    def __init__(self, paths: dict[str, tuple[BatchStats, object]]):
        self.paths = paths

    def onQueryStarted(self, event):
        log.info(json.dumps({"event": "cdc_query_started", "id": str(event.id), "run_id": str(event.runId),
                             "name": event.name}))

    def onQueryProgress(self, event):
        progress = json.loads(event.progress.json)
        batch_stats, status = self.paths.get(progress.get("name"), (None, None))
        stats = batch_stats.pop(progress.get("batchId")) if batch_stats is not None else {}
        if status is not None:
            status.batch_done(progress, stats)
        if progress.get("numInputRows", 0) == 0 and not stats:
            return  # an idle trigger: nothing to report
        log.info(json.dumps(progress_line(progress, stats), default=str))

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        if event.exception:
            log.error(json.dumps({"event": "cdc_query_failed", "id": str(event.id), "error": event.exception}))
        else:
            log.info(json.dumps({"event": "cdc_query_stopped", "id": str(event.id)}))
