"""Iceberg sink: per source table a current-state table (MERGE INTO) and an append-only change log.

Each commit carries `cdc.query-id` and `cdc.batch-id` in its snapshot summary; a batch that a table
already committed is skipped when Spark replays it after a crash. The MERGE is also guarded by the
sequence, so an older or replayed change never overwrites a newer one.

The change log is an INSERT (an append snapshot) whose summary also carries the table's high-water
mark, the largest `_seq` it holds (`cdc.changes-hwm`). Only a batch row at or below that mark can be a
re-sent change or have a newer logged change, so only then are the tables read for duplicates and for
the resurrection guard; a batch of new changes costs an append and a MERGE, nothing more.
"""
from __future__ import annotations

import logging
import time

from ..commit_retry import with_conflict_retries
from ..debezium import Column
from ..plan import PlannedBatch
from ..schema_plan import SchemaPlan
from ..vocabulary import (BATCH_ID_PROP, CHANGE_IDENTITY, CHANGES_HWM_PROP, CHANGES_META, CURRENT_META, METADATA_NAMES,
                          QUERY_ID_PROP, changes_table, current_table, versions_select, versions_table)
from . import iceberg_sql as sql
from .base import SinkResult
from .iceberg_sql import quote

log = logging.getLogger(__name__)


class IcebergSink:
    name = "iceberg"

    def __init__(self, config, spark):
        self.spark = spark
        self.cfg = config.iceberg
        self.tables = [t for t in config.tables if self.name in t.sinks]
        self.prefix = f"{quote(self.cfg.catalog_name)}.{quote(self.cfg.namespace)}"
        self.query_id: str | None = None
        self.reset()

    def reset(self) -> None:
        """What this sink has seen or done itself, so a batch does not pay for catalog loads and
        snapshot queries that cannot tell it anything new; forgotten after a failed batch."""
        self._namespace_ready = False
        self._columns: dict[str, set[str]] = {}  # table -> column names
        self._last_batch: dict[str, int] = {}  # table -> highest batch id committed by this query
        self._high_water: dict[str, int | None] = {}  # change log -> largest _seq it holds (None: empty)
        self._versions: dict[str, tuple[str, ...]] = {}  # table -> source columns of its versions view (this run)

    def _bind(self, query_id: str) -> None:
        if self.query_id != query_id:
            self.query_id = query_id
            self._last_batch.clear()

    def committed(self, query_id: str, batch_id: int) -> bool:
        """True when this sink itself committed the batch (or a later one) to every Iceberg table of the
        config. Answers from memory only: after a restart it says False, and write() then skips each
        table that its snapshot summaries show as done."""
        self._bind(query_id)
        names = [n for t in self.tables for n in (changes_table(t.name), current_table(t.name))]
        return bool(names) and all(self._last_batch.get(n, -1) >= batch_id for n in names)

    def write(self, planned: PlannedBatch, query_id: str) -> SinkResult:
        self._bind(query_id)
        start = time.monotonic()
        tables = planned.tables_for(self.name)
        timings: dict[str, float] = {}
        for table in tables:
            self.ensure_tables(table.config, table.schema)
            timings.update(self.write_table(table.config, table.changes, table.schema, planned.batch_id))
        outcome = "empty" if not tables else "applied" if timings else "skipped"
        return SinkResult(outcome, [t.name for t in tables],
                          round(time.monotonic() - start, 3), {k: round(v, 3) for k, v in timings.items()})

    def ident(self, name: str) -> str:
        return f"{self.prefix}.{quote(name)}"

    def _ensure_namespace(self) -> None:
        if not self._namespace_ready:
            self.spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {self.prefix}")
            self._namespace_ready = True

    def _table_exists(self, name: str) -> bool:
        return self.spark.catalog.tableExists(f"{self.cfg.catalog_name}.{self.cfg.namespace}.{name}")

    def ensure_tables(self, table_cfg, plan: SchemaPlan) -> None:
        """Create <name>_current and <name>_changes on first use; add and widen columns after that."""
        self._ensure_namespace()
        key_cols = set(table_cfg.key_columns)
        changes_altered = False  # created, or a column added or widened: the versions view follows
        for name, meta, partitioning in (
                (current_table(table_cfg.name), CURRENT_META, sql.current_partitioning(table_cfg.key_columns)),
                (changes_table(table_cfg.name), CHANGES_META, sql.CHANGES_PARTITIONING)):
            known = self._columns.get(name)
            if known is not None and not plan.widened and all(c.name in known for c in plan.columns):
                continue
            changes_altered = changes_altered or name == changes_table(table_cfg.name)
            if not self._table_exists(name):
                # Only key columns are required: MySQL may relax NOT NULL later (ALTER ... NULL), and a
                # required Iceberg column would then refuse the batch for good.
                cols = [Column(c.name, c.type, c.name not in key_cols) for c in plan.columns]
                self.spark.sql(sql.create_table_sql(self.ident(name), cols, meta, partitioning,
                                                    self.cfg.table_properties()))
                log.info("created Iceberg table %s", name)
                self._columns[name] = {c.name for c in (*cols, *meta)}
                continue
            fields = self.spark.table(self.ident(name)).schema.fields
            for field in fields:  # created required by an earlier version of the job
                if not field.nullable and field.name not in key_cols and field.name not in METADATA_NAMES:
                    self.spark.sql(f"ALTER TABLE {self.ident(name)} ALTER COLUMN {quote(field.name)} DROP NOT NULL")
                    log.info("made column %s of %s optional", field.name, name)
            existing = {f.name for f in fields}
            for col in plan.columns:
                if col.name not in existing:
                    self.spark.sql(f"ALTER TABLE {self.ident(name)} ADD COLUMN {quote(col.name)} {sql.ddl_type(col.type)}")
                    log.info("added column %s %s to %s", col.name, col.type, name)
                    existing.add(col.name)
            for col_name, _old, new in plan.widened:
                if sql.ddl_type(new) != "int":
                    self.spark.sql(f"ALTER TABLE {self.ident(name)} ALTER COLUMN {quote(col_name)} TYPE {new}")
            self._columns[name] = existing
        if changes_altered or table_cfg.name not in self._versions:
            self._replace_versions_view(table_cfg)

    def _replace_versions_view(self, table_cfg) -> None:
        """<name>_versions, a view the catalog keeps over <name>_changes (vocabulary.versions_select):
        replaced once per query run and whenever the change log's columns were added or widened (an
        Iceberg view keeps the schema it was created with; a widened column would no longer read). A
        catalog that cannot keep views costs the view, never the batch: a warning."""
        changes = changes_table(table_cfg.name)
        columns = tuple(f.name for f in self.spark.table(self.ident(changes)).schema.fields
                        if f.name not in METADATA_NAMES)
        select = versions_select(self.ident(changes), columns, table_cfg.key_columns, quote)
        try:
            self.spark.sql(f"CREATE OR REPLACE VIEW {self.ident(versions_table(table_cfg.name))} AS\n{select}")
            log.info("versions view %s over %s: %d source columns", versions_table(table_cfg.name), changes, len(columns))
        except Exception as err:  # noqa: BLE001 - the data path goes on without the view
            log.warning("cannot create the Iceberg view %s: %s", versions_table(table_cfg.name), str(err).splitlines()[0])
        self._versions[table_cfg.name] = columns

    def last_batch(self, name: str) -> int | None:
        """The highest batch id this query committed to table `name`: from the snapshot summaries
        the first time (after a start or a failed batch), then from this sink's own commits."""
        if name not in self._last_batch:
            row = self.spark.sql(
                f"SELECT max(CAST(summary['{BATCH_ID_PROP}'] AS BIGINT)) AS b FROM {self.ident(name)}.snapshots "
                f"WHERE summary['{QUERY_ID_PROP}'] = '{self.query_id}'").first()
            if row is None or row["b"] is None:
                return None
            self._last_batch[name] = row["b"]
        return self._last_batch[name]

    def _props(self, batch_id: int, extra: dict[str, str] | None = None):
        jmap = self.spark._jvm.java.util.HashMap()
        for key, value in {QUERY_ID_PROP: self.query_id, BATCH_ID_PROP: str(batch_id), **(extra or {})}.items():
            jmap.put(key, value)
        return jmap

    def high_water_mark(self, changes_name: str) -> int | None:
        """The largest `_seq` in change log `changes_name`: from the snapshot summaries the first time
        (the largest mark any snapshot carries; a table written before marks existed, or whose marked
        snapshots all expired, is scanned once), then from this sink's own appends."""
        if changes_name not in self._high_water:
            ident = self.ident(changes_name)
            row = self.spark.sql(f"SELECT max(CAST(summary['{CHANGES_HWM_PROP}'] AS DECIMAL(38,0))) AS m "
                                 f"FROM {ident}.snapshots").first()
            if row is None or row["m"] is None:
                row = self.spark.sql(f"SELECT max(_seq) AS m FROM {ident}").first()
            self._high_water[changes_name] = None if row is None or row["m"] is None else int(row["m"])
        return self._high_water[changes_name]

    def write_table(self, table_cfg, frame, plan: SchemaPlan, batch_id: int) -> dict[str, float]:
        """Append the batch's changes and MERGE its last change per key; returns seconds per table
        written (none when this query already committed the batch to both tables: a replay)."""
        from pyspark.sql import functions as F

        timings = {}
        changes_name, current_name = changes_table(table_cfg.name), current_table(table_cfg.name)
        pending = {name for name in (changes_name, current_name)
                   if (self.last_batch(name) is None or self.last_batch(name) < batch_id)}
        if not pending:
            return timings
        source_cols = [c.name for c in plan.columns]
        keys = table_cfg.key_columns

        start = time.monotonic()
        # Changes are found in <name>_changes by their commit time first (files and partitions are
        # pruned on it): a change the batch could meet there is not older than the batch's oldest.
        # Formatted by Spark in the session time zone, the zone the literal is read in (a Python
        # datetime would be in the driver process's local zone).
        bounds = frame.agg(F.date_format(F.min("_source_ts"), "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("oldest"),
                           F.min("_seq").alias("low"), F.max("_seq").alias("high")).first()
        since = f"TIMESTAMP '{bounds['oldest']}'"
        logged = self.high_water_mark(changes_name)
        # Only rows at or below the mark can already be logged: else nothing is looked up.
        look_up = logged if logged is not None and int(bounds["low"]) <= logged else None
        if changes_name in pending:
            # A change is identified by its key and sequence: Kafka Connect may deliver one twice (at
            # different offsets) after a crash, and it must still appear once.
            view = f"cdc_changes_{table_cfg.name}_{batch_id}"
            # dropDuplicates keeps `first(_batch_id)`, nullable; the column is required in the table.
            frame.dropDuplicates(["_key", *CHANGE_IDENTITY]).drop("_key") \
                .withColumn("_batch_id", F.lit(batch_id).cast("bigint")).createOrReplaceTempView(view)
            mark = int(bounds["high"]) if logged is None else max(logged, int(bounds["high"]))
            self._commit(changes_name, batch_id,
                         sql.changes_append_sql(self.ident(changes_name), view, source_cols, keys, since, look_up),
                         {CHANGES_HWM_PROP: str(mark)})
            self._high_water[changes_name] = mark
            self.spark.catalog.dropTempView(view)
        timings[changes_name] = time.monotonic() - start

        start = time.monotonic()
        if current_name in pending:
            view = f"cdc_current_{table_cfg.name}_{batch_id}"
            frame.createOrReplaceTempView(view + "_all")
            self.spark.sql(sql.latest_change_sql(view + "_all", self.ident(changes_name), keys, since, look_up)) \
                .createOrReplaceTempView(view)
            self._commit(current_name, batch_id,
                         sql.current_merge_sql(self.ident(current_name), view, source_cols, keys))
            self.spark.catalog.dropTempView(view)
            self.spark.catalog.dropTempView(view + "_all")
        timings[current_name] = time.monotonic() - start
        return timings

    def _commit(self, table: str, batch_id: int, statement: str, extra: dict[str, str] | None = None) -> None:
        """Run an INSERT or MERGE whose snapshot carries the batch properties; a lost race with
        compaction is retried (an append does not conflict; a MERGE is guarded, so running it again
        cannot apply a change twice)."""
        def commit():
            self.spark._jvm.io.cdcpipeline.iceberg.CommitProperties.sqlWithSnapshotProperties(
                self.spark._jsparkSession, statement, self._props(batch_id, extra))

        with_conflict_retries(commit, self.cfg.commit_conflict_retries, f"batch {batch_id} commit to {table}")
        self._last_batch[table] = batch_id
