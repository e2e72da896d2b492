"""The streaming query: Debezium topics -> foreachBatch(plan once -> dead letters -> each sink -> schemas).

Exactly-once comes from the sinks, keyed by the query id (stable in the checkpoint) and the batch id:
Iceberg snapshots carry both, PostgreSQL records both in the batch's own transaction. Spark replays
the batch in flight after a crash; each sink recognises what it already committed.
"""
from __future__ import annotations

import json
import logging
import time

from .control import ControlPlane
from .jvm_decode import decode_batch_jvm
from .metrics import BatchStats
from .plan import plan_batch
from .sinks import build_sinks

log = logging.getLogger(__name__)


def checkpoint_query_id(spark, checkpoint_location: str) -> str:
    """The query id Spark keeps in <checkpoint>/metadata: the same across restarts of this query.

    Read through Hadoop's FileSystem, as Spark writes it, so a checkpoint on s3a:// works as a local one."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    metadata = checkpoint_location.rstrip("/") + "/metadata"
    try:
        path = jvm.org.apache.hadoop.fs.Path(metadata)
        stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(path)
        try:
            first_line = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8")).readLine()
        finally:
            stream.close()
        return json.loads(first_line)["id"]
    except (Py4JJavaError, ValueError, KeyError, TypeError) as err:
        raise RuntimeError(f"cannot read the query id from {metadata}: {err}") from err


class BatchWriter:
    """The foreachBatch function (a callable object so it carries its config, not globals): plan the
    batch once, record its dead letters, let each configured sink apply it, then record the schemas."""

    def __init__(self, config, batch_stats: BatchStats | None = None, alerter=None, decode=None):
        self.config = config
        self.alerter = alerter
        self.decode = decode or decode_batch_jvm
        self.control = ControlPlane(config)
        self.batch_stats = batch_stats or BatchStats()
        self.sinks: list | None = None  # built on the first batch, with its Spark session
        self._spark = None
        self._query_id: str | None = None

    def query_id(self, spark) -> str:
        if self._query_id is None:
            self._query_id = checkpoint_query_id(spark, self.config.job.checkpoint_location)
        return self._query_id

    def __call__(self, batch_df, batch_id: int) -> None:
        started = time.monotonic()
        spark = batch_df.sparkSession
        query_id = self.query_id(spark)
        if self.sinks is None or self._spark is not spark:
            # A restarted query (supervisor) runs in a new session: its batches' temp views live there.
            self.sinks, self._spark = build_sinks(self.config, spark), spark
        pending = [sink for sink in self.sinks if not sink.committed(query_id, batch_id)]
        if not pending:
            log.info("batch %s already committed by every sink; skipping", batch_id)
            return
        try:
            stats = self._write(batch_df, batch_id, query_id, pending)
        except BaseException:
            for sink in self.sinks:
                sink.reset()  # what they remember is re-read, not trusted
            raise
        stats["batch_seconds"] = round(time.monotonic() - started, 3)
        self.batch_stats.record(batch_id, stats)
        threshold = self.config.job.dead_letter_alert_threshold
        if threshold and stats["dead_letters"] >= threshold:
            summary = (f"batch {batch_id} sent {stats['dead_letters']} record(s) to "
                       f"{self.config.postgres.dead_letter_table} (threshold {threshold})")
            if self.alerter is not None:
                self.alerter.alert("dead_letters", "dead letters", summary,
                                   {"query": self.config.job.query_name, "batch": str(batch_id)})
            else:
                log.error("%s", summary)

    def _write(self, batch_df, batch_id: int, query_id: str, sinks: list) -> dict:
        start = time.monotonic()
        planned = plan_batch(batch_df, batch_id, self.config, self.control.registered_schemas(), self.decode)
        try:
            self.control.record_dead_letters(planned, query_id)
            stats = {**planned.summary.counts(), "plan_s": round(time.monotonic() - start, 3),
                     "tables": sorted(t.name for t in planned.tables)}
            for sink in sinks:
                result = sink.write(planned, query_id)
                stats[sink.name] = result.outcome
                stats[f"{sink.name}_s"] = result.seconds
                stats[f"{sink.name}_steps"] = result.timings
            self.control.register_schemas(planned)
        finally:
            planned.release()
        return stats


def start_query(spark, config, batch_writer: BatchWriter | None = None, trigger: dict | None = None):
    """Start the named streaming query on the configured source; returns the StreamingQuery."""
    src = config.source
    reader = spark.readStream.format(src.format)
    for key, value in src.reader_options().items():
        reader = reader.option(key, value)
    writer = batch_writer or BatchWriter(config)
    stream = (reader.load().writeStream.queryName(config.job.query_name)
              .option("checkpointLocation", config.job.checkpoint_location)
              .foreachBatch(writer))
    stream = stream.trigger(**(trigger or {"processingTime": src.trigger_interval}))
    return stream.start()
