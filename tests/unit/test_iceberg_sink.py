"""The Iceberg sink on a local Iceberg catalog (a `hadoop` catalog in a temp folder, local Spark): no
stack. Planned batches in, tables out: creation, update and delete applied, a replay recognised from
the snapshot summaries after the sink forgot what it did, a new column added."""
from __future__ import annotations

import dataclasses
import os

import pytest

from cdc_messages import synthetic
from cdc_pipeline.config import IcebergConfig, PipelineConfig, TableConfig
from cdc_pipeline.plan import plan_batch
from cdc_pipeline.sinks.iceberg import IcebergSink
from test_plan import ID, NAME, TOPIC, change, kafka_rows

SCORE = {"type": "int32", "optional": True, "field": "score"}
CATALOG = "unit_lake"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    os.environ.setdefault("TZ", "UTC")
    from pyspark.sql import SparkSession
    from cdc_pipeline.spark_session import build_session
    if SparkSession.getActiveSession() is not None:
        pytest.skip("another Spark session is active; this module needs its own (Iceberg extensions)")
    warehouse = tmp_path_factory.mktemp("warehouse")
    # A catalog name of its own: PySpark's builder keeps every option it was given for the rest of the
    # process, and `type` beside the stack catalog's `catalog-impl` would break the pipeline tests' `lake`.
    session = build_session(None, app_name="cdc-tests-iceberg-sink", master="local[1]", extra={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1",
        f"spark.sql.catalog.{CATALOG}": "org.apache.iceberg.spark.SparkCatalog",
        f"spark.sql.catalog.{CATALOG}.type": "hadoop", f"spark.sql.catalog.{CATALOG}.warehouse": warehouse.as_uri()})
    yield session
    session.stop()


def config() -> PipelineConfig:
    iceberg = IcebergConfig(catalog_name=CATALOG, namespace="cdc", catalog_uri="", catalog_user="", catalog_password="",
                            commit_conflict_retries=2)
    table = TableConfig(topic=TOPIC, name="things", key_columns=("id",), sinks=("iceberg",))
    fields = {f.name: None for f in dataclasses.fields(PipelineConfig)}
    return PipelineConfig(**{**fields, "tables": (table,), "iceberg": iceberg})


def delete(row, pos):
    return synthetic([ID, NAME], None, op="d", before=row, key={"id": row["id"]}, source={"pos": pos, "row": 0})


def test_batches_replays_and_a_new_column(lake):
    cfg = config()
    sink = IcebergSink(cfg, lake)
    first = plan_batch(kafka_rows(lake, [change([ID, NAME], {"id": 1, "name": "a"}, 10),
                                         change([ID, NAME], {"id": 2, "name": "b"}, 20)]), 0, cfg, {})
    assert sink.write(first, "q").outcome == "applied"
    registered = first.schemas
    first.release()
    second = plan_batch(kafka_rows(lake, [change([ID, NAME], {"id": 1, "name": "a2"}, 30, op="u"),
                                          delete({"id": 2, "name": "b"}, 40)]), 1, cfg, registered)
    assert sink.write(second, "q").outcome == "applied"
    assert sink.committed("q", 1) and not sink.committed("q", 2)
    sink.reset()  # as after a failed batch: the replay is recognised from the snapshot summaries
    assert sink.write(second, "q").outcome == "skipped"
    registered = second.schemas
    second.release()
    third = plan_batch(kafka_rows(lake, [change([ID, NAME, SCORE], {"id": 3, "name": "c", "score": 9}, 50)]), 2, cfg,
                       registered)
    assert [c.name for c in third.tables[0].schema.added] == ["score"]
    assert sink.write(third, "q").outcome == "applied"
    third.release()

    current = [tuple(r) for r in lake.sql(f"SELECT id, name, score, _op FROM {CATALOG}.cdc.things_current ORDER BY id").collect()]
    assert current == [(1, "a2", None, "u"), (3, "c", 9, "c")]
    changes = lake.sql(f"SELECT _op, count(*) FROM {CATALOG}.cdc.things_changes GROUP BY _op ORDER BY _op").collect()
    assert [tuple(r) for r in changes] == [("c", 3), ("d", 1), ("u", 1)]
    batches = [r[0] for r in lake.sql(f"SELECT summary['cdc.batch-id'] FROM {CATALOG}.cdc.things_current.snapshots "
                                      "ORDER BY committed_at").collect()]
    assert batches == ["0", "1", "2"]
