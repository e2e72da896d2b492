"""Supervised run of the streaming queries (one per sink path), and the status file `make status` reads.

A failed query (a sink down, a bad deploy, anything thrown in a micro-batch) is restarted from its
checkpoint after an exponential backoff; the failed batch is replayed and the sink recognises what it
already committed. The other path keeps running meanwhile. After `job.max_restarts` failures in a row
(a successful micro-batch resets the count) the path is `permanently_failed`: the job alerts, stops
its other paths and exits 1, with the last error, so a broken pipeline is loud instead of looping for
ever.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .logs import log_event

log = logging.getLogger(__name__)

STATES = ("starting", "running", "restarting", "stopping", "stopped", "permanently_failed")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _offsets(value) -> dict | None:
    """A Kafka source's offsets from Spark's progress (a JSON string or already a mapping)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def end_offsets_of(source_progress: dict) -> dict[str, dict[str, int]]:
    """{topic: {partition: next offset}} the batch read up to (its endOffset)."""
    end = _offsets(source_progress.get("endOffset")) or {}
    return {topic: {str(p): int(o) for p, o in parts.items()} for topic, parts in end.items() if isinstance(parts, dict)}


def paths_behind(state: dict, topic: str, ends: dict[int, int]) -> list[str]:
    """The job's paths (from its status file) whose last batch did not read `topic` up to `ends`
    ({partition: offset}), or held records of it back for a transaction not yet complete (they are
    read again, so they need the table's config): make remove-table waits for none before the table
    leaves the config."""
    behind = []
    for name, path in (state.get("paths") or {}).items():
        last = path.get("last_batch") or {}
        done = (last.get("end_offsets") or {}).get(topic) or {}
        held = (last.get("transactions") or {}).get("held_topics") or []
        if any(end > int(done.get(str(p), 0)) for p, end in ends.items()) or topic in held:
            behind.append(name)
    return behind


def lag_per_topic(source_progress: dict) -> dict[str, int]:
    """Records behind the end of each topic after the batch: latestOffset - endOffset, summed per topic."""
    latest, end = _offsets(source_progress.get("latestOffset")), _offsets(source_progress.get("endOffset"))
    if latest is None or end is None:
        return {}
    lag = {}
    for topic, partitions in latest.items():
        done = end.get(topic) or {}
        lag[topic] = sum(max(0, int(offset) - int(done.get(partition, 0))) for partition, offset in partitions.items())
    return lag


def restart_delay_ms(failures_in_a_row: int, initial_ms: int, max_ms: int) -> int:
    """Backoff before restart number n (1, 2, ...): initial, 2x, 4x, ... capped at max."""
    return min(max_ms, initial_ms * 2 ** max(0, failures_in_a_row - 1))


# Worst first: the job's state is its worst path's state.
_PATH_STATE_ORDER = ("permanently_failed", "restarting", "starting", "stopping", "running", "stopped")


def _new_state(query_name: str) -> dict:
    return {"query_name": query_name, "state": "starting", "restarts_in_a_row": 0, "restarts_total": 0,
            "last_batch": None, "last_error": None}


class StatusFile:
    """The job's state as one JSON document, replaced atomically (readers never see half a file).

    With paths (one per streaming query, config.SinkPath) each path has its own entry under `paths`,
    kept by its supervisor through `path_status(name)`; the top-level state, restarts, last error and
    next restart are then derived from the paths (worst state, summed, latest, soonest); each path's
    last batch stays in its own entry.
    """

    def __init__(self, path: str | Path, query_name: str, paths: dict[str, str] | None = None):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.state = {**_new_state(query_name), "pid": os.getpid(), "started_at": utc_now()}
        if paths:
            self.state["paths"] = {name: _new_state(query) for name, query in paths.items()}

    def path_status(self, name: str) -> "PathStatus":
        return PathStatus(self, name)

    def update(self, **changes) -> dict:
        with self._lock:
            self.state.update(changes)
            return self._write()

    def _write(self) -> dict:
        paths = self.state.get("paths")
        if paths:
            states = [p["state"] for p in paths.values()]
            if self.state["state"] not in ("stopping", "stopped") or "permanently_failed" in states:
                self.state["state"] = min(states, key=_PATH_STATE_ORDER.index)
            self.state["restarts_in_a_row"] = max(p["restarts_in_a_row"] for p in paths.values())
            self.state["restarts_total"] = sum(p["restarts_total"] for p in paths.values())
            errors = [p["last_error"] for p in paths.values() if p.get("last_error")]
            self.state["last_error"] = max(errors, key=lambda e: e["at"]) if errors else None
            restarts = [p["next_restart_at"] for p in paths.values()
                        if p["state"] == "restarting" and p.get("next_restart_at")]
            self.state["next_restart_at"] = min(restarts) if restarts else None
        self.state["updated_at"] = utc_now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=2, default=str))
        os.replace(tmp, self.path)
        return dict(self.state)

    def batch_done(self, progress: dict, stats: dict) -> None:
        """From the progress listener: the batch completed (so the failures in a row are over)."""
        self.update(state="running", restarts_in_a_row=0, last_batch=batch_summary(progress, stats))


class PathStatus:
    """One path's entry in the job's StatusFile, with the same interface the Supervisor uses."""

    def __init__(self, status: StatusFile, name: str):
        self.status = status
        self.name = name

    @property
    def state(self) -> dict:
        return self.status.state["paths"][self.name]

    def update(self, **changes) -> dict:
        with self.status._lock:
            self.state.update(changes, updated_at=utc_now())
            self.status._write()
            return dict(self.state)

    batch_done = StatusFile.batch_done


def batch_summary(progress: dict, stats: dict) -> dict:
    """A completed batch as `make status` shows it, from Spark's progress and our own counts."""
    sources = progress.get("sources") or [{}]
    return {"batch_id": progress.get("batchId"), "timestamp": progress.get("timestamp"),
            "rows_in": progress.get("numInputRows"),
            "input_rows_per_s": round(progress.get("inputRowsPerSecond") or 0.0, 1),
            "processed_rows_per_s": round(progress.get("processedRowsPerSecond") or 0.0, 1),
            "duration_ms": (progress.get("durationMs") or {}).get("triggerExecution"),
            "lag_per_topic": lag_per_topic(sources[0]), "end_offsets": end_offsets_of(sources[0]),
            "dead_letters": stats.get("dead_letters"), "transactions": stats.get("transactions")}


def read_status(path: str | Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.$]*(?:Error|Exception))(?::\s*(.*))?$")
_WRAPPERS = ("StreamingQueryException", "PythonException", "Py4JJavaError", "SparkException",
             "CapturedException")


def short_error(error: BaseException | str) -> str:
    """The root cause of a (Python-in-Java-in-Python) error in one line: the last `SomeError: message`
    that is not one of Spark's or py4j's wrappers; else the first line."""
    text = str(error).strip()
    causes = []
    for line in text.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match and not match.group(1).rsplit(".", 1)[-1].endswith(_WRAPPERS) and match.group(2):
            causes.append(line.strip())
    if causes:
        return causes[-1][:1000]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:1000]


_NEW_PARTITION_METRICS = re.compile(r"key not found: \S+-\d+")


def is_new_partitions_glitch(error: BaseException | str) -> bool:
    """Spark's Kafka source (3.5) failing its progress metrics on a partition that appeared since the
    last batch: KafkaMicroBatchStream.metrics looks each available partition up in the consumed
    offsets. It happens when a table is added (a new topic under source.topic_pattern) while a path
    delays its trigger (the Iceberg path's minOffsetsPerTrigger); nothing was consumed wrongly, and a
    restart from the checkpoint reads the new partitions from their start."""
    texts, seen = [], 0
    while error is not None and seen < 5:  # PySpark's exception: its message, its JVM trace, its causes
        texts += [str(error), str(getattr(error, "stackTrace", "") or "")]
        error, seen = getattr(error, "cause", None), seen + 1
    text = "\n".join(texts)
    return bool(_NEW_PARTITION_METRICS.search(text)) and "KafkaMicroBatchStream" in text


class Supervisor:
    """Runs one query; restarts it after a failure with backoff; gives up after max_restarts in a row.

    `status` is a StatusFile, or one path's PathStatus when the job runs several queries (each has its
    own supervisor, thread and restart count)."""

    def __init__(self, start: Callable[[], object], status: StatusFile, alerter, max_restarts: int,
                 backoff_initial_ms: int, backoff_max_ms: int, stop_requested: threading.Event,
                 stop_query: Callable[[object], None], poll_s: float = 1.0):
        self.start = start
        self.status = status
        self.alerter = alerter
        self.max_restarts = max_restarts
        self.backoff_initial_ms = backoff_initial_ms
        self.backoff_max_ms = backoff_max_ms
        self.stop_requested = stop_requested
        self.stop_query = stop_query
        self.poll_s = poll_s

    # Restarts at once, without an alert, for is_new_partitions_glitch; more within a minute are failures.
    NEW_PARTITION_RESTARTS = 3

    def run(self) -> int:
        """0 when stopped on request; 1 when permanently failed."""
        glitches, last_glitch = 0, 0.0
        while True:
            error = self._run_once()
            if error is None:
                self.status.update(state="stopped")
                return 0
            if time.monotonic() - last_glitch > 60:
                glitches = 0  # a table added now and then is not a failing query
            if is_new_partitions_glitch(error) and glitches < self.NEW_PARTITION_RESTARTS:
                glitches, last_glitch = glitches + 1, time.monotonic()
                state = self.status.update(restarts_total=self.status.state["restarts_total"] + 1)
                log_event(log, "cdc_query_new_partitions", logging.WARNING, query=state["query_name"],
                          detail="Spark's Kafka source met partitions that appeared since its last batch (a table "
                                 "was added); restarting the query from its checkpoint now", error=short_error(error))
                continue
            glitches = 0
            message = short_error(error)
            state = self.status.update(last_error={"at": utc_now(), "message": message})
            failures = state["restarts_in_a_row"] + 1
            name = state["query_name"]
            if failures > self.max_restarts:
                self.status.update(state="permanently_failed")
                self.alerter.alert(f"permanently_failed:{name}", "query permanently failed",
                                   f"{name} failed {failures} times in a row; not restarting",
                                   {"last error": message, "restarts": str(self.max_restarts)})
                log.error("cdc_query_permanently_failed after %d restarts: %s: %s", self.max_restarts, name, message)
                return 1
            delay_ms = restart_delay_ms(failures, self.backoff_initial_ms, self.backoff_max_ms)
            self.alerter.alert(f"query_failed:{name}", "query failed",
                               f"{name} failed; restart {failures} of {self.max_restarts} in {delay_ms / 1000:.0f}s",
                               {"error": message})
            self.status.update(state="restarting", restarts_in_a_row=failures,
                               restarts_total=state["restarts_total"] + 1,
                               next_restart_at=datetime.fromtimestamp(time.time() + delay_ms / 1000,
                                                                      timezone.utc).isoformat(timespec="seconds"))
            log.warning("restarting %s from its checkpoint in %.1fs (failure %d in a row, at most %d)",
                        name, delay_ms / 1000, failures, self.max_restarts)
            if self.stop_requested.wait(delay_ms / 1000):
                self.status.update(state="stopped")
                return 0

    def _run_once(self):
        """Start the query and wait for its end; the error it failed with, or None if it was stopped."""
        if self.stop_requested.is_set():
            return None
        try:
            query = self.start()
        except Exception as err:  # noqa: BLE001 - a start failure (sink down at start) counts as a failure
            log.error("%s: query start failed: %s", self.status.state["query_name"], err)
            return err
        self.status.update(state="running", query_id=str(query.id), run_id=str(query.runId))
        while query.isActive:
            if self.stop_requested.is_set():
                self.status.update(state="stopping")
                self.stop_query(query)
                return None
            try:
                query.awaitTermination(self.poll_s)
            except Exception as err:  # noqa: BLE001 - PySpark raises the query's failure here
                return err
        try:
            return query.exception()
        except Exception as err:  # noqa: BLE001 - the gateway's view of a dead query
            return err
