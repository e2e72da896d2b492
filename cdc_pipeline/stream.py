"""The job's streaming queries, one per sink (config.SinkPath): Debezium topics ->
foreachBatch(plan once -> dead letters -> the path's sink -> the path's schemas).

PostgreSQL and Iceberg read the same topics in two queries with their own checkpoints and triggers,
so the warehouse commits every `source.trigger_interval` and never waits for a lake commit, while the
lake commits every `iceberg.commit_interval`, in batches large enough to make its fixed costs small.

Exactly-once comes from each sink, keyed by its query's id (stable in its checkpoint) and the batch
id: Iceberg snapshots carry both, PostgreSQL records both in the batch's own transaction. Spark
replays the batch in flight after a crash; the sink recognises what it already committed.
"""
from __future__ import annotations

import json
import logging
import time

from .config import SinkPath
from .control import ControlPlane
from .jvm_decode import decode_batch_jvm
from .metrics import BatchStats
from .plan import plan_batch
from .sinks import build_sink
from .transactions import Gate, Tail, gate_batch

log = logging.getLogger(__name__)


def _checkpoint_lines(spark, checkpoint_location: str, name: str) -> list[str]:
    """A file of the checkpoint, read through Hadoop's FileSystem as Spark writes it (so a checkpoint
    on s3a:// works as a local one)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(checkpoint_location.rstrip("/") + "/" + name)
    stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(line)
            line = reader.readLine()
        return lines
    finally:
        stream.close()


def checkpoint_query_id(spark, checkpoint_location: str) -> str:
    """The query id Spark keeps in <checkpoint>/metadata: the same across restarts of this query."""
    from py4j.protocol import Py4JJavaError
    try:
        return json.loads(_checkpoint_lines(spark, checkpoint_location, "metadata")[0])["id"]
    except (Py4JJavaError, ValueError, KeyError, TypeError, IndexError) as err:
        raise RuntimeError(f"cannot read the query id from {checkpoint_location}/metadata: {err}") from err


def batch_end_offsets(spark, checkpoint_location: str, batch_id: int) -> dict[tuple[str, int], int]:
    """Where batch `batch_id` ends in each Kafka partition, from Spark's offset log
    (<checkpoint>/offsets/<batch id>: a version line, the batch's metadata, then the source's offsets)."""
    from py4j.protocol import Py4JJavaError
    try:
        offsets = json.loads(_checkpoint_lines(spark, checkpoint_location, f"offsets/{batch_id}")[-1])
        return {(topic, int(partition)): int(offset) for topic, partitions in offsets.items()
                for partition, offset in partitions.items()}
    except (Py4JJavaError, ValueError, TypeError, IndexError, AttributeError) as err:
        raise RuntimeError(f"cannot read batch {batch_id}'s offsets from {checkpoint_location}/offsets: {err}") from err


class BatchWriter:
    """The foreachBatch function of one path (a callable object so it carries its config, not
    globals): plan the batch once, record its dead letters, let the path's sink apply it, then record
    the schemas the sink now has."""

    def __init__(self, config, path: SinkPath, batch_stats: BatchStats | None = None, alerter=None,
                 decode=None, lease=None, live=None):
        self.config = config
        self.live = live  # config_loader.LiveConfig: tables added or removed while the job runs
        self.lease = lease  # lease.CheckpointLease: checked before every batch
        self.path = path
        self.alerter = alerter
        self.decode = decode or decode_batch_jvm
        self.control = ControlPlane(config, path.sink)
        self.batch_stats = batch_stats or BatchStats()
        self.sink = None  # built on the first batch, with its Spark session
        self._spark = None
        self._query_id: str | None = None
        # (batch id, its Gate: tail and held records, read from its cache) of the last batch applied.
        self._held: tuple[int, Gate] | None = None

    def query_id(self, spark) -> str:
        if self._query_id is None:
            self._query_id = checkpoint_query_id(spark, self.path.checkpoint_location)
        return self._query_id

    def __call__(self, batch_df, batch_id: int) -> None:
        started = time.monotonic()
        if self.lease is not None:
            self.lease.hold()  # raises if another driver took this checkpoint over
        spark = batch_df.sparkSession
        query_id = self.query_id(spark)
        current = self.live.current() if self.live is not None else self.config
        if current is not self.config:
            self.config, self.sink = current, None  # the sink's table list follows the config
        if self.sink is None or not self._spark._jsparkSession.equals(spark._jsparkSession):
            # A restarted query (supervisor) runs in a new session: its batches' temp views live there.
            # PySpark wraps the JVM session anew for every batch, so the JVM session is what is compared;
            # within one query the sink keeps what it knows (tables, columns, committed batches).
            self.sink, self._spark = build_sink(self.path.sink, self.config, spark), spark
        if self.sink.committed(query_id, batch_id):
            log.info("%s: batch %s already committed; skipping", self.path.query_name, batch_id)
            return
        try:
            stats = self._write(batch_df, batch_id, query_id)
        except BaseException:
            self.sink.reset()  # what it remembers is re-read, not trusted
            self._forget_held()  # a replay reads the tail from the control plane and Kafka
            raise
        stats["batch_seconds"] = round(time.monotonic() - started, 3)
        self.batch_stats.record(batch_id, stats)
        threshold = self.config.job.dead_letter_alert_threshold
        # Counted where they are first recorded: a replay or the other path meeting them adds none.
        if threshold and stats["new_dead_letters"] >= threshold:
            summary = (f"batch {batch_id} of {self.path.query_name} sent {stats['new_dead_letters']} record(s) "
                       f"to {self.config.postgres.dead_letter_table} (threshold {threshold})")
            if self.alerter is not None:
                self.alerter.alert("dead_letters", "dead letters", summary,
                                   {"query": self.path.query_name, "batch": str(batch_id)})
            else:
                log.error("%s", summary)

    def _alert_truncates(self, batch_id: int, topics: list[str]) -> None:
        """A TRUNCATE in MySQL is not applied (README: TRUNCATE): the sinks now hold rows MySQL has not,
        so it is always alerted, whatever the dead-letter threshold."""
        for topic in topics:
            summary = (f"{topic}: MySQL truncated the table; not applied, both sinks keep its rows until it is "
                       f"re-snapshotted (batch {batch_id} of {self.path.query_name}, see "
                       f"{self.config.postgres.dead_letter_table}, error_kind 'truncate')")
            if self.alerter is not None:
                self.alerter.alert(f"truncate:{topic}", "table truncated", summary, {"topic": topic})
            else:
                log.error("%s", summary)

    def _previous_tail(self, query_id: str, batch_id: int) -> tuple[Tail, object | None]:
        """What the batch before this one held back (transactions.Tail) and, when this process holds
        them, its records; else (the first batch of this process, a replay) the tail from the control
        plane, whose records are read again from Kafka."""
        if self._held is not None and self._held[0] == batch_id - 1:
            return self._held[1].tail, self._held[1].held
        self._forget_held()
        return self.control.held_tail(query_id, batch_id), None

    def _forget_held(self) -> None:
        if self._held is not None:
            self._held[1].release(held_too=True)
        self._held = None

    def _alert_released(self, batch_id: int, released: list) -> None:
        """A transaction applied incomplete breaks the guarantee for it: always alerted (README: Transactions)."""
        if not released:
            return
        shown = ", ".join(f"{r.txn} ({r.records} event(s), {r.age_ms // 1000} s)" for r in released[:5])
        reasons = sorted({r.reason for r in released})
        summary = (f"batch {batch_id} of {self.path.query_name} applied {len(released)} incomplete MySQL "
                   f"transaction(s) ({' and '.join(reasons)}: transactions.release_after / max_held_records): {shown}")
        if self.alerter is not None:
            self.alerter.alert(f"transactions:{self.path.sink}", "incomplete transactions applied", summary,
                               {"query": self.path.query_name, "batch": str(batch_id)})
        else:
            log.error("%s", summary)

    def _write(self, batch_df, batch_id: int, query_id: str) -> dict:
        start = time.monotonic()
        previous, held = self._previous_tail(query_id, batch_id)
        gate = gate_batch(batch_df, previous, self.config, held, lambda: batch_end_offsets(
            batch_df.sparkSession, self.path.checkpoint_location, batch_id))
        gated = time.monotonic()
        try:
            planned = plan_batch(gate.frame, batch_id, self.config, self.control.registered_schemas(), self.decode)
            try:
                new = self.control.record_dead_letters(planned, query_id)
                self._alert_truncates(batch_id, sorted({topic for kind, topic in new if kind == "truncate"}))
                stats = {**planned.summary.counts(), "new_dead_letters": sum(new.values()),
                         "gate_s": round(gated - start, 3), "plan_s": round(time.monotonic() - gated, 3),
                         "tables": sorted(t.name for t in planned.tables), "transactions": gate.stats}
                if gate.tail != previous:
                    # Before the sink commits: a replay of this batch reads the tail of the one before.
                    self.control.record_tail(query_id, batch_id, gate.tail)
                result = self.sink.write(planned, query_id)
                stats[self.sink.name] = result.outcome
                stats[f"{self.sink.name}_s"] = result.seconds
                stats[f"{self.sink.name}_steps"] = result.timings
                self.control.register_schemas(planned)
            finally:
                planned.release()
        except BaseException:
            gate.release(held_too=True)
            raise
        finally:
            gate.release()
        self._forget_held()  # the previous batch's held records are in this batch's (or applied)
        self._held = (batch_id, gate)
        self._alert_released(batch_id, gate.released)
        return stats


def start_query(spark, config, path: SinkPath, batch_writer: BatchWriter | None = None,
                trigger: dict | None = None):
    """Start the path's named streaming query on the configured source; returns the StreamingQuery."""
    src = config.source
    reader = spark.readStream.format(src.format)
    for key, value in {**config.reader_options(), **dict(path.source_options)}.items():
        reader = reader.option(key, value)
    writer = batch_writer or BatchWriter(config, path)
    # The query's thread (and so its jobs) inherits this thread's scheduler pool: one pool per path.
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", path.sink)
    stream = (reader.load().writeStream.queryName(path.query_name)
              .option("checkpointLocation", path.checkpoint_location)
              .foreachBatch(writer))
    stream = stream.trigger(**(trigger or {"processingTime": path.trigger_interval}))
    return stream.start()
