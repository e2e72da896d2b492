"""The streaming query: Debezium topics -> foreachBatch(decode, plan, Iceberg, PostgreSQL).

Exactly-once comes from the sinks, keyed by the query id (stable in the checkpoint) and the batch id:
Iceberg snapshots carry both, PostgreSQL records both in the batch's own transaction. Spark replays
the batch in flight after a crash; each sink recognises what it already committed.
"""
from __future__ import annotations

import json
import logging
import time

from .batch import decode_batch, summarize_decoded, typed_changes
from .dead_letters import dead_letter_frame, mark_rejected
from .iceberg_sink import IcebergSink
from .metrics import BatchStats
from .postgres_sink import PostgresSink
from .schema_plan import plan_columns

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
    """The foreachBatch function (a callable object so it carries its config, not globals)."""

    def __init__(self, config, batch_stats: BatchStats | None = None, alerter=None):
        self.config = config
        self.alerter = alerter
        self.tables = {t.topic: t for t in config.tables}
        self.key_columns = {t.topic: t.decode_key_columns for t in config.tables}
        self.postgres = PostgresSink(config)
        self.batch_stats = batch_stats or BatchStats()
        self._query_id: str | None = None
        self._iceberg: IcebergSink | None = None  # one per run: it remembers the namespace exists

    def query_id(self, spark) -> str:
        if self._query_id is None:
            self._query_id = checkpoint_query_id(spark, self.config.job.checkpoint_location)
        return self._query_id

    def __call__(self, batch_df, batch_id: int) -> None:
        started = time.monotonic()
        spark = batch_df.sparkSession
        query_id = self.query_id(spark)
        # Iceberg commits before PostgreSQL, so a batch in the PostgreSQL ledger is done everywhere.
        if self.postgres.batch_committed(query_id, batch_id):
            log.info("batch %s already committed; skipping", batch_id)
            return
        from pyspark import StorageLevel

        decoded = decode_batch(batch_df, self.key_columns).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            stats = self._write(spark, batch_df, decoded, batch_id, query_id)
        except BaseException:
            self._iceberg = None  # its remembered schemas and commits are re-read, not trusted
            raise
        finally:
            decoded.unpersist()
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

    def _write(self, spark, batch_df, decoded, batch_id: int, query_id: str) -> dict:
        summary = summarize_decoded(decoded)
        registered = self.postgres.registered_schemas()
        plans, rejected = {}, []
        for topic, column_sets in summary.column_sets.items():
            table_cfg = self.tables[topic]
            plan = plan_columns(table_cfg.name, registered.get(table_cfg.name), column_sets, table_cfg.key_columns)
            plans[topic] = plan
            rejected += [(topic, cols, reason) for cols, reason in plan.rejected.items()]
        if rejected:
            decoded = mark_rejected(decoded, rejected)
            summary = summarize_decoded(decoded)
        tables = [(self.tables[topic], plan, typed_changes(decoded, topic, tuple(plan.columns), batch_id))
                  for topic, plan in plans.items() if plan.columns and topic in summary.column_sets]
        timings = {}

        iceberg_tables = [t for t in tables if "iceberg" in t[0].sinks]
        if iceberg_tables:
            if self._iceberg is None or self._iceberg.spark is not spark:
                self._iceberg = IcebergSink(spark, self.config, query_id)
            sink = self._iceberg
            start = time.monotonic()
            for table_cfg, plan, _frame in iceberg_tables:
                sink.ensure_tables(table_cfg, plan)
                sink.write(table_cfg, decoded, plan, batch_id)
            timings["iceberg_s"] = round(time.monotonic() - start, 3)

        start = time.monotonic()
        pg_tables = [t for t in tables if "postgres" in t[0].sinks]
        dead = dead_letter_frame(decoded, batch_df, batch_id) if summary.dead_letters else None
        self.postgres.stage(pg_tables, dead, batch_id)
        end_offsets = json.dumps(batch_end_offsets(decoded))
        outcome = self.postgres.apply(query_id, batch_id, pg_tables, summary.counts(), end_offsets)
        timings["postgres_s"] = round(time.monotonic() - start, 3)
        return {**summary.counts(), **timings, "postgres": outcome,
                "tables": sorted(t[0].name for t in tables)}


def batch_end_offsets(decoded) -> dict:
    """{topic: {partition: next offset}} of the records in the batch (for the ledger)."""
    from pyspark.sql import functions as F
    out: dict = {}
    for row in decoded.groupBy("_kafka_topic", "_kafka_partition").agg(F.max("_kafka_offset").alias("o")).collect():
        out.setdefault(row["_kafka_topic"], {})[str(row["_kafka_partition"])] = row["o"] + 1
    return out


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
