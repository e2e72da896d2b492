"""PostgreSQL sink: history, current state, per-user stats, dead letters and the batch ledger, all in
ONE transaction per micro-batch.

Rows reach PostgreSQL from the executors (COPY into UNLOGGED staging tables, tagged with the batch id,
through pgjdbc's CopyManager in java/postgres-copy); the driver then runs a handful of set-based statements (cdc_pipeline.pg_sql) in a
single transaction that also inserts the batch's row into the ledger. A replayed batch finds its row
and is skipped, so nothing is applied twice; a failed batch leaves nothing behind but staging rows,
which the next attempt deletes first.
"""
from __future__ import annotations

import json
import logging
from contextlib import closing

from . import pg_sql
from .debezium import Column
from .pg_sql import quote_ident
from .schema_plan import SchemaPlan

log = logging.getLogger(__name__)

SCHEMA_REGISTRY = "cdc_table_schemas"
DEAD_LETTER_STAGING = "cdc_stage_dead_letters"


def staging_table(name: str) -> str:
    return f"cdc_stage_{name}"


def copy_text_column(name: str, spark_type_name: str):
    """Column `name` as PostgreSQL input text for COPY (pg_sql.COPY_TEXT_FORMS), null stays null."""
    from pyspark.sql import functions as F
    col = F.col(f"`{name.replace('`', '``')}`")
    form = pg_sql.copy_text_form(spark_type_name)
    if form == "t_f":
        text = F.when(col, F.lit("t")).when(~col, F.lit("f"))
    elif form == "bytea_hex":
        text = F.concat(F.lit("\\x"), F.lower(F.hex(col)))
    elif form == "instant":
        text = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSSxxx")
    else:
        text = col.cast("string")
    return text.alias(name)


class PostgresSink:
    def __init__(self, config):
        self.cfg = config.postgres
        self.config = config
        self.schema = self.cfg.schema
        self._prepared = False

    # -- connections ---------------------------------------------------------------------------------
    def connect(self):
        import psycopg2
        conn = psycopg2.connect(**self.cfg.connect_kwargs(), connect_timeout=10,
                                options=f"-c search_path={quote_ident(self.schema)},public")
        return conn

    def copy_into(self, frame, staging: str) -> int:
        """COPY `frame` into the staging table from the executors; returns the rows copied."""
        text = frame.select(*[copy_text_column(f.name, f.dataType.typeName()) for f in frame.schema.fields])
        jvm = frame.sparkSession.sparkContext._jvm
        return jvm.io.cdcpipeline.postgres.CopyStager.copy(
            text._jdf, self.cfg.jdbc_url, self.cfg.user, self.cfg.password,
            pg_sql.copy_from_stdin_sql(staging, frame.columns))

    def prepare(self) -> None:
        """Control tables the job owns (idempotent): the schema registry and the dead-letter staging."""
        if self._prepared:
            return
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            cur.execute(f"""CREATE TABLE IF NOT EXISTS {quote_ident(SCHEMA_REGISTRY)} (
                table_name TEXT PRIMARY KEY, columns JSONB NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())""")
            cur.execute(f"""CREATE UNLOGGED TABLE IF NOT EXISTS {quote_ident(DEAD_LETTER_STAGING)} (
                kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
                kafka_timestamp TIMESTAMPTZ, kafka_key BYTEA, kafka_value BYTEA, error_kind TEXT NOT NULL,
                reason TEXT NOT NULL, _batch_id BIGINT NOT NULL)""")
        self._prepared = True

    # -- reads the driver needs before writing ---------------------------------------------------------
    def registered_schemas(self) -> dict[str, tuple[Column, ...]]:
        self.prepare()
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT table_name, columns FROM {quote_ident(SCHEMA_REGISTRY)}")
            return {name: tuple(Column(*c) for c in cols) for name, cols in cur.fetchall()}

    def batch_committed(self, query_id: str, batch_id: int) -> bool:
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {quote_ident(self.cfg.batch_table)} WHERE query_id = %s AND batch_id = %s",
                        (query_id, batch_id))
            return cur.fetchone() is not None

    # -- the batch -----------------------------------------------------------------------------------------
    def stage(self, tables: list[tuple], dead_letters, batch_id: int) -> None:
        """Executors write the batch's rows into the staging tables (after clearing a failed attempt)."""
        self.prepare()
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            for table_cfg, plan, _frame in tables:
                staging = staging_table(table_cfg.name)
                cur.execute(pg_sql.create_staging_table_sql(staging, plan.columns))
                cur.execute(pg_sql.evolve_staging_sql(staging, plan.columns, plan.widened))
                cur.execute(pg_sql.delete_staging_sql(staging, batch_id))
            cur.execute(pg_sql.delete_staging_sql(DEAD_LETTER_STAGING, batch_id))
        for table_cfg, _plan, frame in tables:
            self.copy_into(frame.drop("_key"), staging_table(table_cfg.name))
        if dead_letters is not None:
            self.copy_into(dead_letters, DEAD_LETTER_STAGING)

    def apply(self, query_id: str, batch_id: int, tables: list[tuple], counts: dict, end_offsets: str | None) -> str:
        """The one transaction: returns 'applied' or 'skipped' (the ledger already had this batch)."""
        with closing(self.connect()) as conn:
            with conn, conn.cursor() as cur:
                # Two attempts of one batch (a zombie driver and its restart) queue here, not interleave.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cdc:{query_id}",))
                cur.execute(f"SELECT 1 FROM {quote_ident(self.cfg.batch_table)} WHERE query_id = %s AND batch_id = %s",
                            (query_id, batch_id))
                if cur.fetchone() is not None:
                    self._clear_staging(cur, tables, batch_id)
                    return "skipped"
                for table_cfg, plan, _frame in tables:
                    self._apply_table(cur, table_cfg, plan, batch_id)
                cur.execute(f"""
                    INSERT INTO {quote_ident(self.cfg.dead_letter_table)}
                        (kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_value,
                         error_kind, reason, query_id, batch_id)
                    SELECT DISTINCT ON (kafka_topic, kafka_partition, kafka_offset)
                        kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_value,
                        error_kind, reason, %s, _batch_id
                    FROM {quote_ident(DEAD_LETTER_STAGING)} WHERE _batch_id = %s
                    ON CONFLICT DO NOTHING""", (query_id, batch_id))
                cur.execute(f"""
                    INSERT INTO {quote_ident(self.cfg.batch_table)}
                        (query_id, batch_id, end_offsets, rows_in, snapshots, inserts, updates, deletes,
                         tombstones, dead_letters)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                            (query_id, batch_id, end_offsets, counts["rows_in"], counts["snapshots"],
                             counts["inserts"], counts["updates"], counts["deletes"], counts["tombstones"],
                             counts["dead_letters"]))
                self._clear_staging(cur, tables, batch_id)
            return "applied"

    def _clear_staging(self, cur, tables, batch_id: int) -> None:
        for table_cfg, _plan, _frame in tables:
            cur.execute(pg_sql.delete_staging_sql(staging_table(table_cfg.name), batch_id))
        cur.execute(pg_sql.delete_staging_sql(DEAD_LETTER_STAGING, batch_id))

    def _apply_table(self, cur, table_cfg, plan: SchemaPlan, batch_id: int) -> None:
        name, cols, keys, schema = table_cfg.name, plan.columns, table_cfg.key_columns, self.schema
        staging = staging_table(name)
        cur.execute(pg_sql.create_history_table_sql(name, cols, keys, schema=schema))
        cur.execute(pg_sql.create_current_table_sql(name, cols, keys, schema=schema))
        if plan.added:
            cur.execute(pg_sql.add_columns_sql(name, plan.added, schema=schema))
        for col_name, old, new in plan.widened:
            sql = pg_sql.alter_type_sql(name, col_name, old, new, schema=schema)
            if sql:
                cur.execute(sql)
        cur.execute(f"""INSERT INTO {quote_ident(SCHEMA_REGISTRY)} (table_name, columns) VALUES (%s, %s)
                        ON CONFLICT (table_name) DO UPDATE SET columns = EXCLUDED.columns, updated_at = now()
                        WHERE {quote_ident(SCHEMA_REGISTRY)}.columns IS DISTINCT FROM EXCLUDED.columns""",
                    (name, json.dumps([[c.name, c.type, c.nullable] for c in cols])))
        cur.execute(pg_sql.insert_history_sql(name, staging, cols, keys, batch_id=batch_id, schema=schema))
        cur.execute(pg_sql.upsert_current_sql(name, staging, cols, keys, batch_id=batch_id, schema=schema))
        stats = table_cfg.stats
        if stats is not None:
            by_name = {c.name: c for c in cols}
            cur.execute(pg_sql.create_user_stats_table_sql(
                stats.table, by_name[stats.group_by], by_name[stats.sum_column],
                by_name.get(stats.opened_at_column) if stats.opened_at_column else None, schema=schema))
            cur.execute(pg_sql.recompute_user_stats_sql(
                name, staging, cols, group_by=stats.group_by, sum_column=stats.sum_column, batch_id=batch_id,
                stats_table=stats.table, opened_at_column=stats.opened_at_column, schema=schema))

