"""The control plane: the state the job keeps beside the sinks, for every table whatever its sinks.

    schema registry   `cdc_sink_schemas`: per sink path and table, the columns after the path's last
                      batch, what its next batch is planned against (cdc_pipeline.plan). Each path
                      keeps its own rows: the paths run at their own pace, and a sink must widen a
                      column itself even when the other path already did. Written after the sink
                      applied the batch; a batch that fails before is planned again from the old
                      schema, and the sinks' DDL (ADD COLUMN IF NOT EXISTS, widening) is idempotent.
    held tails        `cdc_held_tails`: per path (query id) and batch, the records it read but held back
                      (transactions.Tail: incomplete MySQL transactions), which the next batch reads
                      again. Written before the sink commits the batch; a replay reads the row of the
                      batch before it. Written only when it or the one before is not empty.
    dead letters      `postgres.dead_letter_table`: the records no sink can apply, with the reason.
                      Staged by COPY, then inserted once per Kafka coordinate: a replay, or the
                      other path meeting the same record, adds nothing.

It lives in the warehouse database (`postgres.*`): the control plane needs a transactional store, and
that is the one the pipeline has. Each sink keeps its own commit record next to its data
(cdc_pipeline.sinks.base).
"""
from __future__ import annotations

import logging
from contextlib import closing

from .batch import columns_to_json
from .debezium import Column
from .plan import PlannedBatch
from .sinks import postgres_sql as sql
from .sinks.postgres import connect, copy_into
from .sinks.postgres_sql import quote_ident
from .transactions import Tail

log = logging.getLogger(__name__)

SCHEMA_REGISTRY = "cdc_sink_schemas"
HELD_TAILS = "cdc_held_tails"
KEEP_TAILS = 1000  # batches of held-tail rows kept per query (for `make status` and post-mortems)
DEAD_LETTER_STAGING = "cdc_stage_dead_letters"


class ControlPlane:
    def __init__(self, config, sink: str):
        self.cfg = config.postgres
        self.sink = sink  # whose schema registry rows these are
        self._prepared = False

    def connect(self):
        return connect(self.cfg)

    def prepare(self) -> None:
        """The control tables the job owns (idempotent). Both paths start at once and CREATE TABLE IF
        NOT EXISTS is not safe against a concurrent twin (duplicate pg_type row): one lock orders them."""
        if self._prepared:
            return
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("cdc:control-plane-ddl",))
            cur.execute(f"""CREATE TABLE IF NOT EXISTS {quote_ident(SCHEMA_REGISTRY)} (
                sink TEXT NOT NULL, table_name TEXT NOT NULL, columns JSONB NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (sink, table_name))""")
            cur.execute(f"""CREATE TABLE IF NOT EXISTS {quote_ident(HELD_TAILS)} (
                query_id TEXT NOT NULL, batch_id BIGINT NOT NULL, tail JSONB NOT NULL, held_records BIGINT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (query_id, batch_id))""")
            cur.execute(f"""CREATE UNLOGGED TABLE IF NOT EXISTS {quote_ident(DEAD_LETTER_STAGING)} (
                kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
                kafka_timestamp TIMESTAMPTZ, kafka_key BYTEA, kafka_value BYTEA, error_kind TEXT NOT NULL,
                reason TEXT NOT NULL, _batch_id BIGINT NOT NULL)""")
        self._prepared = True

    # -- schema registry -------------------------------------------------------------------------------
    def registered_schemas(self) -> dict[str, tuple[Column, ...]]:
        self.prepare()
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT table_name, columns FROM {quote_ident(SCHEMA_REGISTRY)} WHERE sink = %s", (self.sink,))
            return {name: tuple(Column(*c) for c in cols) for name, cols in cur.fetchall()}

    def register_schemas(self, planned: PlannedBatch) -> None:
        """Record every planned table's columns (after this path's sink applied the batch)."""
        changed = [t for t in planned.tables if t.schema.changed]
        rows = [(t.name, columns_to_json(t.schema.columns)) for t in planned.tables]
        if not rows:
            return
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            for name, columns in rows:
                cur.execute(f"""INSERT INTO {quote_ident(SCHEMA_REGISTRY)} (sink, table_name, columns)
                                VALUES (%s, %s, %s)
                                ON CONFLICT (sink, table_name) DO UPDATE SET columns = EXCLUDED.columns, updated_at = now()
                                WHERE {quote_ident(SCHEMA_REGISTRY)}.columns IS DISTINCT FROM EXCLUDED.columns""",
                            (self.sink, name, columns))
        for table in changed:
            log.info("schema of %s (%s path): %s", table.name, self.sink, ", ".join(f"{c.name} {c.type}" for c in table.schema.columns))

    # -- held tails ----------------------------------------------------------------------------------------
    def held_tail(self, query_id: str, batch_id: int) -> Tail:
        """The tail the last batch before `batch_id` of this query left (empty if none)."""
        self.prepare()
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"""SELECT tail::text FROM {quote_ident(HELD_TAILS)} WHERE query_id = %s AND batch_id < %s
                            ORDER BY batch_id DESC LIMIT 1""", (query_id, batch_id))
            row = cur.fetchone()
        return Tail.from_json(row[0] if row else None)

    def record_tail(self, query_id: str, batch_id: int, tail: Tail) -> None:
        self.prepare()
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            cur.execute(f"""INSERT INTO {quote_ident(HELD_TAILS)} (query_id, batch_id, tail, held_records)
                            VALUES (%s, %s, %s, %s) ON CONFLICT (query_id, batch_id)
                            DO UPDATE SET tail = EXCLUDED.tail, held_records = EXCLUDED.held_records, updated_at = now()""",
                        (query_id, batch_id, tail.to_json(), tail.records))
            cur.execute(f"DELETE FROM {quote_ident(HELD_TAILS)} WHERE query_id = %s AND batch_id < %s",
                        (query_id, batch_id - KEEP_TAILS))

    # -- dead letters ------------------------------------------------------------------------------------
    def record_dead_letters(self, planned: PlannedBatch, query_id: str) -> dict[tuple[str, str], int]:
        """Stage the batch's dead letters by COPY and insert each Kafka record once; returns how many
        were new per (error kind, topic) (none on a replay)."""
        if planned.dead_letters is None:
            return {}
        self.prepare()
        batch = planned.batch_id
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            cur.execute(sql.delete_staging_sql(DEAD_LETTER_STAGING, batch))
        copy_into(planned.dead_letters, DEAD_LETTER_STAGING, self.cfg)
        with closing(self.connect()) as conn, conn, conn.cursor() as cur:
            cur.execute(f"""
                WITH inserted AS (
                    INSERT INTO {quote_ident(self.cfg.dead_letter_table)}
                        (kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_value,
                         error_kind, reason, query_id, batch_id)
                    SELECT DISTINCT ON (kafka_topic, kafka_partition, kafka_offset)
                        kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_value,
                        error_kind, reason, %s, _batch_id
                    FROM {quote_ident(DEAD_LETTER_STAGING)} WHERE _batch_id = %s
                    ON CONFLICT DO NOTHING
                    RETURNING error_kind, kafka_topic)
                SELECT error_kind, kafka_topic, count(*) FROM inserted GROUP BY error_kind, kafka_topic""",
                        (query_id, batch))
            inserted = {(kind, topic): count for kind, topic, count in cur.fetchall()}
            cur.execute(sql.delete_staging_sql(DEAD_LETTER_STAGING, batch))
        return inserted
