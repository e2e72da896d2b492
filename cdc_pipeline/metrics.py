"""Progress: one JSON log line per micro-batch, and what the job's own code measured in it; the same
figures as Prometheus metrics on the driver (`job.metrics_port`, /metrics).

The listener runs on the driver and must not block; it only formats what Spark reports
(`onQueryProgress`: batch id, input rows, durations, the source's lag metrics) together with the
counts the batch writer recorded for that batch id, and sets the exporter's gauges and counters.
"""
from __future__ import annotations

import json
import logging
import threading
import time

from pyspark.sql.streaming import StreamingQueryListener

from .logs import log_event
from .supervisor import lag_per_topic

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
    """The fields of a batch's `cdc_batch` log record, from Spark's progress JSON and our own counts."""
    sources = progress.get("sources") or [{}]
    metrics = sources[0].get("metrics") or {}
    return {
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


# What a batch's own stats call each op (BatchStats counts) in the op label of cdc_changes_total.
OP_COUNTS = {"snapshots": "r", "inserts": "c", "updates": "u", "deletes": "d"}


class PrometheusExporter:
    """The job's figures per query (path), for Prometheus: what `make status` and the log lines show.

    Gauges keep the last batch's values; counters add up since the driver started (Prometheus's
    `rate()` and `increase()` handle the restarts of the driver)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge
        self.registry = registry = CollectorRegistry()
        query = ["query"]
        self.last_batch = Gauge("cdc_last_batch_id", "id of the query's last completed micro-batch", query, registry=registry)
        self.last_batch_time = Gauge("cdc_last_batch_timestamp_seconds",
                                     "when the last batch completed (unix time; its age: time() - this)", query, registry=registry)
        self.input_rows = Counter("cdc_input_rows", "Kafka records read", query, registry=registry)
        self.input_rate = Gauge("cdc_input_rows_per_second", "records per second arriving, last trigger", query, registry=registry)
        self.processed_rate = Gauge("cdc_processed_rows_per_second", "records per second processed, last trigger",
                                    query, registry=registry)
        self.seconds = Gauge("cdc_batch_seconds", "the last batch's seconds: trigger (Spark's whole trigger), "
                             "gate (whole transactions), plan (decode and plan), the sink (postgres or iceberg)", ["query", "step"], registry=registry)
        self.behind = Gauge("cdc_offsets_behind_latest", "records in the topic not read yet, after the last trigger",
                            ["query", "topic"], registry=registry)
        self.changes = Counter("cdc_changes", "change events in the batches, by Debezium op", ["query", "op"], registry=registry)
        self.dead_letters = Counter("cdc_dead_letters", "records this query stored in the dead letters first",
                                    query, registry=registry)
        self.starts = Counter("cdc_query_starts", "starts of the query (the first, then each restart)", query, registry=registry)
        self.held = Gauge("cdc_held", "what the last batch held back for whole MySQL transactions (README: Transactions): "
                          "records (read again by the next batch) and transactions", ["query", "what"], registry=registry)
        self.released = Counter("cdc_transactions_released", "MySQL transactions applied incomplete (timeout or size)",
                                query, registry=registry)
        self.up = Gauge("cdc_query_up", "1 while the query runs, 0 after it stopped or failed", query, registry=registry)

    def query_started(self, name: str) -> None:
        self.starts.labels(name).inc()
        self.up.labels(name).set(1)

    def query_ended(self, name: str) -> None:
        self.up.labels(name).set(0)

    def batch_done(self, progress: dict, stats: dict) -> None:
        name = progress.get("name") or "?"
        for source in progress.get("sources") or []:
            for topic, behind in lag_per_topic(source).items():
                self.behind.labels(name, topic).set(behind)
        self.input_rate.labels(name).set(progress.get("inputRowsPerSecond") or 0.0)
        self.processed_rate.labels(name).set(progress.get("processedRowsPerSecond") or 0.0)
        rows = progress.get("numInputRows") or 0
        if rows == 0 and not stats:
            return  # an idle trigger
        self.input_rows.labels(name).inc(rows)
        self.last_batch.labels(name).set(progress.get("batchId") or 0)
        self.last_batch_time.labels(name).set(time.time())
        trigger_ms = (progress.get("durationMs") or {}).get("triggerExecution")
        if trigger_ms is not None:
            self.seconds.labels(name, "trigger").set(trigger_ms / 1000)
        for step in ("gate", "plan", "postgres", "iceberg"):
            if f"{step}_s" in stats:
                self.seconds.labels(name, step).set(stats[f"{step}_s"])
        for count, op in OP_COUNTS.items():
            if stats.get(count):
                self.changes.labels(name, op).inc(stats[count])
        if stats.get("new_dead_letters"):
            self.dead_letters.labels(name).inc(stats["new_dead_letters"])
        held = stats.get("transactions") or {}
        for what, key in (("records", "held_records"), ("transactions", "held_transactions")):
            self.held.labels(name, what).set(held.get(key, 0))
        if held.get("released_transactions"):
            self.released.labels(name).inc(held["released_transactions"])

    def text(self) -> bytes:
        from prometheus_client import generate_latest
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> str | None:
        """Serve /metrics in a daemon thread; the address, or None (logged) when the port is taken."""
        from prometheus_client import start_http_server
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as err:
            log.warning("metrics: cannot serve on %s:%s (%s); the job runs without its /metrics endpoint", host, port, err)
            return None
        return f"http://{host}:{port}/metrics"


class ProgressLogger(StreamingQueryListener):
    """Logs each batch of every query; keeps each path's entry of the status file and the exporter current.

    `paths` maps a query name to its BatchStats and its status (supervisor.PathStatus or StatusFile,
    or None); progress of a query not in it is logged without our counts."""

    def __init__(self, paths: dict[str, tuple[BatchStats, object]], exporter: PrometheusExporter | None = None):
        self.paths = paths
        self.exporter = exporter
        self._names: dict[str, str] = {}  # query id -> name (the terminated event has the id only)

    def onQueryStarted(self, event):
        self._names[str(event.id)] = event.name
        if self.exporter is not None:
            self.exporter.query_started(event.name)
        log_event(log, "cdc_query_started", id=str(event.id), run_id=str(event.runId), query=event.name)

    def onQueryProgress(self, event):
        progress = json.loads(event.progress.json)
        batch_stats, status = self.paths.get(progress.get("name"), (None, None))
        stats = batch_stats.pop(progress.get("batchId")) if batch_stats is not None else {}
        if status is not None:
            status.batch_done(progress, stats)
        if self.exporter is not None:
            self.exporter.batch_done(progress, stats)
        if progress.get("numInputRows", 0) == 0 and not stats:
            return  # an idle trigger: nothing to report
        log_event(log, "cdc_batch", **progress_line(progress, stats))

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        if self.exporter is not None and str(event.id) in self._names:
            self.exporter.query_ended(self._names[str(event.id)])
        if event.exception:
            log_event(log, "cdc_query_failed", logging.ERROR, id=str(event.id), error=event.exception)
        else:
            log_event(log, "cdc_query_stopped", id=str(event.id))
