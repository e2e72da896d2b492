"""A table configured with one sink only (`sinks: [iceberg]`): the batch writer plans it against the
schema registry like any other table, so a column added in MySQL reaches its Iceberg tables, and a
replayed batch changes nothing. Runs the job's BatchWriter in this process on the stack's catalog,
S3 and warehouse, fed with hand-made Debezium records (no connector, no streaming query)."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone

import pytest

from cdc_pipeline.control import SCHEMA_REGISTRY
from cdc_pipeline.stream import BatchWriter
from pipeline_support import CONFIG
from stack_support import pg_connect
from unit.cdc_messages import synthetic

pytestmark = pytest.mark.integration

ID = {"type": "int64", "optional": False, "field": "id"}
NAME = {"type": "string", "optional": True, "field": "name"}
SCORE = {"type": "int32", "optional": True, "field": "score"}


def kafka_batch(spark, topic: str, records: list[dict], first_offset: int):
    """The Kafka source's row shape for these records, at consecutive offsets of partition 0."""
    rows = []
    for i, record in enumerate(records):
        rows.append((None if record["key"] is None else record["key"].encode(), record["value"].encode(),
                     topic, 0, first_offset + i, datetime(2026, 1, 1, tzinfo=timezone.utc), 0))
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset bigint, "
                                       "timestamp timestamp, timestampType int")


def change(fields, row, pos):
    return synthetic(fields, row, key={"id": row["id"]}, source={"pos": pos, "row": 0})


def test_an_iceberg_only_table_takes_a_new_column(lake):
    name = f"only_lake_{uuid.uuid4().hex[:8]}"
    topic = f"t.shop.{name}"
    table = dataclasses.replace(CONFIG.tables[0], topic=topic, name=name, key_columns=("id",), sinks=("iceberg",),
                                stats=None)
    # Its topic listed (the shipped source pattern runs both paths, for tables added while the job runs).
    config = dataclasses.replace(CONFIG, tables=(table,),
                                 source=dataclasses.replace(CONFIG.source, topics=(topic,), topic_pattern=None))
    assert [p.sink for p in config.sink_paths] == ["iceberg"]  # no table writes PostgreSQL: no such path
    writer = BatchWriter(config, config.sink_paths[0])
    writer._query_id = f"test-{uuid.uuid4()}"  # no checkpoint: the writer is called directly
    ice = f"{config.iceberg.catalog_name}.{config.iceberg.namespace}"
    try:
        first = [change([ID, NAME], {"id": 1, "name": "a"}, 100), change([ID, NAME], {"id": 2, "name": "b"}, 200)]
        writer(kafka_batch(lake, topic, first, 0), 0)
        second = [change([ID, NAME, SCORE], {"id": 2, "name": "b2", "score": 7}, 300),
                  change([ID, NAME, SCORE], {"id": 3, "name": "c", "score": None}, 400)]
        batch = kafka_batch(lake, topic, second, 2)
        writer(batch, 1)
        writer.sink.reset()
        writer(batch, 1)  # a replay after a failure: recognised from the snapshot summaries

        rows = lake.sql(f"SELECT id, name, score FROM {ice}.{name}_current ORDER BY id").collect()
        assert [tuple(r) for r in rows] == [(1, "a", None), (2, "b2", 7), (3, "c", None)]
        assert lake.sql(f"SELECT count(*) FROM {ice}.{name}_changes").first()[0] == 4
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT columns FROM {SCHEMA_REGISTRY} WHERE sink = 'iceberg' AND table_name = %s", (name,))
            registered = cur.fetchone()[0]
            cur.execute("SELECT to_regclass(%s)", (f"{name}_history",))
            assert cur.fetchone()[0] is None, "the postgres sink is not configured for this table"
        assert [c[0] for c in registered] == ["id", "name", "score"]
    finally:
        lake.sql(f"DROP VIEW IF EXISTS {ice}.{name}_versions")
        for suffix in ("_current", "_changes"):
            lake.sql(f"DROP TABLE IF EXISTS {ice}.{name}{suffix} PURGE")
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {SCHEMA_REGISTRY} WHERE table_name = %s", (name,))
