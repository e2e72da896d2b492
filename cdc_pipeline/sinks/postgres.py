"""PostgreSQL sink: history, current state and per-user stats of a batch, and the batch's row in the
ledger (`postgres.batch_table`), all in ONE transaction.

Rows reach PostgreSQL from the executors: COPY into UNLOGGED staging tables, tagged with the batch id
(java/postgres-copy: pgjdbc's CopyManager, one COPY per partition). The driver then runs a handful of
set-based statements (postgres_sql) in a single transaction that also inserts the batch's ledger row.
A replayed batch finds its row and is skipped, so nothing is applied twice; a failed batch leaves
nothing behind but staging rows, which the next attempt deletes first.

UNLOGGED staging is not crash-safe: PostgreSQL's crash recovery empties it. So the transaction first
counts the batch's staged records against what the executors copied, and a batch whose staging rows
are gone fails (StagingLostError) and is replayed, instead of committing fewer rows with its ledger
row. The staging delete of a new attempt takes the same lock as the apply, so it cannot pull rows from
under an attempt that is applying.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import closing

from ..errors import StagingLostError
from ..plan import PlannedBatch, PlannedTable
from ..vocabulary import versions_table
from . import postgres_sql as sql
from .base import SinkResult
from .postgres_sql import quote_ident

log = logging.getLogger(__name__)


def staging_table(name: str) -> str:
    return f"cdc_stage_{name}"


def copy_text_column(name: str, spark_type_name: str):
    """Column `name` as PostgreSQL input text for COPY (postgres_sql.COPY_TEXT_FORMS), null stays null."""
    from pyspark.sql import functions as F
    col = F.col(f"`{name.replace('`', '``')}`")
    form = sql.copy_text_form(spark_type_name)
    if form == "t_f":
        text = F.when(col, F.lit("t")).when(~col, F.lit("f"))
    elif form == "bytea_hex":
        text = F.concat(F.lit("\\x"), F.lower(F.hex(col)))
    elif form == "instant":
        text = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSSxxx")
    else:
        text = col.cast("string")
    return text.alias(name)


def connect(pg):
    """A connection to the warehouse database `pg` (PostgresConfig), its schema first on the search path."""
    import psycopg2
    return psycopg2.connect(**pg.connect_kwargs(), connect_timeout=10,
                            options=f"-c search_path={quote_ident(pg.schema)},public")


def copy_into(frame, table: str, pg) -> int:
    """COPY `frame` into `table` of the warehouse database `pg` (PostgresConfig) from the executors;
    returns the rows copied."""
    text = frame.select(*[copy_text_column(f.name, f.dataType.typeName()) for f in frame.schema.fields])
    jvm = frame.sparkSession.sparkContext._jvm
    return jvm.io.cdcpipeline.postgres.CopyStager.copy(
        text._jdf, pg.jdbc_url, pg.user, pg.password, sql.copy_from_stdin_sql(table, frame.columns))


class PostgresSink:
    name = "postgres"

    def __init__(self, config, spark=None):  # rows reach PostgreSQL through the batch's own frames
        self.cfg = config.postgres
        self.schema = self.cfg.schema

    def connect(self):
        return connect(self.cfg)

    def reset(self) -> None:
        """Nothing is remembered between batches."""

    def committed(self, query_id: str, batch_id: int) -> bool:
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {quote_ident(self.cfg.batch_table)} WHERE query_id = %s AND batch_id = %s",
                        (query_id, batch_id))
            return cur.fetchone() is not None

    def write(self, planned: PlannedBatch, query_id: str) -> SinkResult:
        start = time.monotonic()
        tables = planned.tables_for(self.name)
        copied = self._stage(tables, planned.batch_id, query_id)
        staged = time.monotonic()
        outcome = self._apply(query_id, planned, tables, copied)
        done = time.monotonic()
        return SinkResult(outcome, [t.name for t in tables], round(done - start, 3),
                          {"stage_s": round(staged - start, 3), "apply_s": round(done - staged, 3)})

    def _stage(self, tables: list[PlannedTable], batch_id: int, query_id: str) -> dict[str, int]:
        """Executors COPY the batch's rows into the staging tables (after clearing a failed attempt);
        returns the records copied per table."""
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            self._lock(cur, query_id)
            for table in tables:
                staging = staging_table(table.name)
                cur.execute(sql.create_staging_table_sql(staging, table.schema.columns))
                cur.execute(sql.evolve_staging_sql(staging, table.schema.columns, table.schema.widened))
                cur.execute(sql.delete_staging_sql(staging, batch_id))
        return {table.name: copy_into(table.changes.drop("_key"), staging_table(table.name), self.cfg)
                for table in tables}

    @staticmethod
    def _lock(cur, query_id: str) -> None:
        """Two attempts of one batch (a zombie driver and its restart) queue here, not interleave."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cdc:{query_id}",))

    def _apply(self, query_id: str, planned: PlannedBatch, tables: list[PlannedTable], copied: dict[str, int]) -> str:
        """The one transaction: returns 'applied' or 'skipped' (the ledger already had this batch)."""
        batch_id, counts = planned.batch_id, planned.summary.counts()
        with closing(self.connect()) as conn:
            with conn, conn.cursor() as cur:
                self._lock(cur, query_id)
                cur.execute(f"SELECT 1 FROM {quote_ident(self.cfg.batch_table)} WHERE query_id = %s AND batch_id = %s",
                            (query_id, batch_id))
                if cur.fetchone() is not None:
                    self._clear_staging(cur, tables, batch_id)
                    return "skipped"
                self._check_staged(cur, tables, batch_id, copied)
                for table in tables:
                    self._apply_table(cur, table, batch_id)
                cur.execute(f"""
                    INSERT INTO {quote_ident(self.cfg.batch_table)}
                        (query_id, batch_id, end_offsets, rows_in, snapshots, inserts, updates, deletes,
                         tombstones, dead_letters)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                            (query_id, batch_id, json.dumps(planned.end_offsets), counts["rows_in"],
                             counts["snapshots"], counts["inserts"], counts["updates"], counts["deletes"],
                             counts["tombstones"], counts["dead_letters"]))
                self._clear_staging(cur, tables, batch_id)
            return "applied"

    @staticmethod
    def _check_staged(cur, tables: list[PlannedTable], batch_id: int, copied: dict[str, int]) -> None:
        for table in tables:
            staging = staging_table(table.name)
            cur.execute(sql.staged_rows_sql(staging, batch_id))
            found, expected = cur.fetchone()[0], copied[table.name]
            if found != expected:
                raise StagingLostError(
                    f"batch {batch_id}: staging table {staging} holds {found} of the {expected} records the "
                    "executors copied (PostgreSQL restarted since, and crash recovery empties UNLOGGED "
                    "tables, or another attempt of the batch cleared them); the batch fails and is replayed")

    def _clear_staging(self, cur, tables: list[PlannedTable], batch_id: int) -> None:
        for table in tables:
            cur.execute(sql.delete_staging_sql(staging_table(table.name), batch_id))

    def _apply_table(self, cur, table: PlannedTable, batch_id: int) -> None:
        cfg, plan = table.config, table.schema
        name, cols, keys, schema = cfg.name, plan.columns, cfg.key_columns, self.schema
        staging = staging_table(name)
        cur.execute(sql.create_history_table_sql(name, cols, keys, schema=schema))
        cur.execute(sql.create_current_table_sql(name, cols, keys, schema=schema,
                                                 group_by=cfg.stats.group_by if cfg.stats else None))
        cur.execute("SELECT to_regclass(%s)", (sql.qualified(versions_table(name), schema),))
        new_versions_view = bool(plan.added or plan.widened) or cur.fetchone()[0] is None
        if new_versions_view:
            cur.execute(sql.drop_versions_view_sql(name, schema=schema))
        if plan.added:
            cur.execute(sql.add_columns_sql(name, plan.added, schema=schema))
        for col_name, old, new in plan.widened:
            statement = sql.alter_type_sql(name, col_name, old, new, schema=schema)
            if statement:
                cur.execute(statement)
        if new_versions_view:
            cur.execute(sql.history_source_columns_sql(name, schema))
            source_columns = [row[0] for row in cur.fetchall()]
            cur.execute(sql.create_versions_view_sql(name, source_columns, keys, schema=schema))
        cur.execute(sql.insert_history_sql(name, staging, cols, keys, batch_id=batch_id, schema=schema))
        cur.execute(sql.upsert_current_sql(name, staging, cols, keys, batch_id=batch_id, schema=schema))
        stats = cfg.stats
        if stats is not None:
            by_name = {c.name: c for c in cols}
            stats_columns = (by_name[stats.group_by], by_name[stats.sum_column],
                             by_name.get(stats.opened_at_column) if stats.opened_at_column else None)
            cur.execute(sql.create_user_stats_table_sql(stats.table, *stats_columns, schema=schema))
            widen = sql.widen_user_stats_sql(stats.table, *stats_columns, plan.widened, schema=schema)
            if widen:
                cur.execute(widen)
            cur.execute(sql.recompute_user_stats_sql(
                name, staging, cols, group_by=stats.group_by, sum_column=stats.sum_column, batch_id=batch_id,
                stats_table=stats.table, opened_at_column=stats.opened_at_column, schema=schema))
