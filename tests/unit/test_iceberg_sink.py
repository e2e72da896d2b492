"""The Iceberg sink on a local Iceberg catalog (a `hadoop` catalog in a temp folder, local Spark): no
stack. Planned batches in, tables out: creation, update and delete applied, a replay recognised from
the snapshot summaries after the sink forgot what it did, a new column added."""
from __future__ import annotations

import dataclasses
import os

import pytest

from cdc_messages import planning_config, synthetic
from cdc_pipeline.config import IcebergConfig, PipelineConfig, TableConfig
from cdc_pipeline.debezium import Column
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
    return planning_config(table, iceberg=iceberg)


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


def test_the_change_log_is_an_append_that_looks_up_only_re_sent_changes(lake):
    """New changes are appended without reading the tables; Kafka Connect's re-sends (same key and
    `_seq`, at later offsets, after the key's delete) are written once and bring nothing back; the
    high-water mark survives a restart in the snapshot summary."""
    cfg = dataclasses.replace(config(), tables=(TableConfig(topic=TOPIC, name="resent", key_columns=("id",),
                                                            sinks=("iceberg",)),))
    sink = IcebergSink(cfg, lake)
    statements = []
    commit = sink._commit

    def recording_commit(table, batch_id, statement, extra=None):
        statements.append((table, statement))
        return commit(table, batch_id, statement, extra)

    sink._commit = recording_commit
    insert5, delete5 = change([ID, NAME], {"id": 5, "name": "e"}, 60), delete({"id": 5, "name": "e"}, 70)
    first = plan_batch(kafka_rows(lake, [insert5, change([ID, NAME], {"id": 6, "name": "f"}, 65), delete5]), 0, cfg, {})
    assert sink.write(first, "q").outcome == "applied"
    registered = first.schemas
    first.release()
    assert all("EXISTS" not in s for _, s in statements), statements  # nothing logged yet: nothing read
    mark = sink.high_water_mark("resent_changes")

    sink.reset()  # a restart: the mark is read back from the snapshot summaries
    assert sink.high_water_mark("resent_changes") == mark
    statements.clear()
    resent = plan_batch(kafka_rows(lake, [insert5, change([ID, NAME], {"id": 7, "name": "g"}, 80)]), 1, cfg, registered)
    assert sink.write(resent, "q").outcome == "applied"
    resent.release()
    assert [("EXISTS" in s) for t, s in statements if t == "resent_changes"] == [True]  # a row at or below the mark
    statements.clear()
    fresh = plan_batch(kafka_rows(lake, [change([ID, NAME], {"id": 8, "name": "h"}, 90)]), 2, cfg, registered)
    assert sink.write(fresh, "q").outcome == "applied"
    fresh.release()
    assert len(statements) == 2 and all("EXISTS" not in s for _, s in statements)

    logged = lake.sql(f"SELECT id, _op, count(*) FROM {CATALOG}.cdc.resent_changes GROUP BY id, _op ORDER BY id, _op")
    assert [tuple(r) for r in logged.collect()] == [(5, "c", 1), (5, "d", 1), (6, "c", 1), (7, "c", 1), (8, "c", 1)]
    current = lake.sql(f"SELECT id FROM {CATALOG}.cdc.resent_current ORDER BY id").collect()
    assert [r[0] for r in current] == [6, 7, 8]  # the re-sent insert of 5 did not resurrect it
    snapshots = lake.sql(f"SELECT operation, summary['cdc.changes-hwm'] FROM {CATALOG}.cdc.resent_changes.snapshots "
                         "ORDER BY committed_at").collect()
    assert [r[0] for r in snapshots] == ["append"] * 3
    assert [int(r[1]) for r in snapshots] == sorted(int(r[1]) for r in snapshots) and int(snapshots[-1][1]) > mark


def test_a_column_mysql_relaxes_to_null_takes_nulls_in_new_and_older_tables(lake):
    """MySQL `ALTER TABLE ... MODIFY name ... NULL`: the change events' schema turns optional and a null
    follows. Non-key columns are created optional; a table created required earlier is relaxed."""
    from cdc_pipeline.sinks import iceberg_sql
    from cdc_pipeline.vocabulary import CURRENT_META
    required = {"type": "string", "optional": False, "field": "name"}
    for name, precreate in (("relaxed_new", False), ("relaxed_old", True)):
        cfg = dataclasses.replace(config(), tables=(TableConfig(topic=TOPIC, name=name, key_columns=("id",),
                                                                sinks=("iceberg",)),))
        sink = IcebergSink(cfg, lake)
        if precreate:  # as the job created tables before: the source's NOT NULL kept in Iceberg
            lake.sql("CREATE NAMESPACE IF NOT EXISTS unit_lake.cdc")
            lake.sql(iceberg_sql.create_table_sql(sink.ident(f"{name}_current"),
                                                  [Column("id", "bigint", False), Column("name", "string", False)],
                                                  CURRENT_META, "bucket(16, `id`)", cfg.iceberg.table_properties()))
        first = plan_batch(kafka_rows(lake, [change([ID, required], {"id": 1, "name": "a"}, 10)]), 0, cfg, {})
        assert sink.write(first, "q").outcome == "applied"
        registered = first.schemas
        first.release()
        second = plan_batch(kafka_rows(lake, [change([ID, NAME], {"id": 1, "name": None}, 20, op="u")]), 1, cfg,
                            registered)
        assert sink.write(second, "q").outcome == "applied"
        second.release()
        rows = lake.sql(f"SELECT id, name FROM {CATALOG}.cdc.{name}_current").collect()
        assert [tuple(r) for r in rows] == [(1, None)], name


def test_versions_of_each_key_from_the_change_log(lake):
    """SCD type 2 over <name>_changes (the query of the <name>_versions view), in Spark: a key's versions
    follow `_seq`, each ends where the next change begins, a delete only closes one, a re-insert opens a
    new one; the hadoop catalog keeps no views, so the sink's view is a warning here, never a failure."""
    from cdc_pipeline.sinks.iceberg_sql import quote
    from cdc_pipeline.vocabulary import versions_select
    cfg = dataclasses.replace(config(), tables=(dataclasses.replace(config().tables[0], name="versioned"),))
    sink = IcebergSink(cfg, lake)
    rows = [change([ID, NAME], {"id": 1, "name": "a"}, 10), change([ID, NAME], {"id": 1, "name": "a2"}, 20, op="u"),
            change([ID, NAME], {"id": 1, "name": "a3"}, 30, op="u"), delete({"id": 1, "name": "a3"}, 40),
            change([ID, NAME], {"id": 1, "name": "again"}, 50), change([ID, NAME], {"id": 2, "name": "b"}, 60)]
    planned = plan_batch(kafka_rows(lake, rows), 0, cfg, {})
    assert sink.write(planned, "qv").outcome == "applied"
    planned.release()
    versions = lake.sql(versions_select(f"{CATALOG}.cdc.versioned_changes", ["id", "name"], ["id"], quote))
    got = [(r["id"], r["name"], r["opened_by"], r["is_current"], r["valid_to"] is None)
           for r in versions.orderBy("id", "_seq").collect()]
    assert got == [(1, "a", "c", False, False), (1, "a2", "u", False, False), (1, "a3", "u", False, False),
                   (1, "again", "c", True, True), (2, "b", "c", True, True)]
    assert versions.columns[:6] == ["valid_from", "valid_to", "is_current", "opened_by", "_seq", "id"]
