"""Completeness of the histories (`make verify`): every change the Kafka topic still holds is in each
sink's history, and the two histories hold the same changes.

A change is identified by its key and `_seq` (vocabulary.CHANGE_IDENTITY). The topic is read in one
Spark batch from its earliest retained offset to its latest and decoded by the job's own decoder;
records the job sent to the dead letters (same Kafka coordinates) are expected in no history. A change
Kafka no longer holds (retention) is still checked against the other sink's history. So a history
lacks a change when Kafka or the other history holds it and it does not; that is the one number
reported per sink (`history_missing`, with a sample of keys).

The three sides meet in Spark (PostgreSQL read over JDBC), so a large history never passes through the
driver. Keys are compared as strings after a cast to the sink's own key type, so the decoder's
canonical strings and the sinks' typed columns agree.
"""
from __future__ import annotations

from .batch import KIND_CHANGE
from .jvm_decode import decode_batch_jvm
from .sinks.postgres_sql import quote_ident, quote_literal
from .verify_readers import DEFAULT_LIMIT, _iceberg_exists, _spark_ident, key_order, normal, pg_columns
from .vocabulary import changes_table, history_table

SEQ_TYPE = "decimal(38,0)"


def kafka_changes(spark, config, table_cfg):
    """(Kafka coordinates, `_values`, `_seq`) of every change event the table's topic holds that the job
    did not send to the dead letters."""
    from pyspark.sql import functions as F

    src = config.source
    reader = (spark.read.format("kafka").option("kafka.bootstrap.servers", src.bootstrap_servers)
              .option("subscribe", table_cfg.topic).option("startingOffsets", "earliest")
              .option("endingOffsets", "latest"))
    for key, value in src.consumer_options.items():
        reader = reader.option(key, value)
    decoded = decode_batch_jvm(reader.load(), {table_cfg.topic: table_cfg.decode_key_columns}, src.max_record_bytes)
    changes = decoded.where(F.col("_kind") == KIND_CHANGE).select(
        F.col("_kafka_partition").alias("kafka_partition"), F.col("_kafka_offset").alias("kafka_offset"),
        "_values", "_seq")
    dead = pg_frame(spark, config.postgres,
                    f"SELECT kafka_partition, kafka_offset FROM {quote_ident(config.postgres.schema)}."
                    f"{quote_ident(config.postgres.dead_letter_table)} WHERE kafka_topic = "
                    f"{quote_literal(table_cfg.topic)}")
    return changes.join(dead, ["kafka_partition", "kafka_offset"], "left_anti")


def pg_frame(spark, pg, query: str):
    """A PostgreSQL query as a DataFrame, over JDBC (the credentials as properties, never in a URL)."""
    return spark.read.jdbc(pg.jdbc_url, f"({query}) AS q",
                           properties={"user": pg.user, "password": pg.password, "driver": "org.postgresql.Driver"})


def _identities(frame, keys, key_types: dict[str, object]):
    """Distinct (key columns as strings, `_seq`) of a history frame."""
    from pyspark.sql import functions as F
    return frame.select(*[F.col(k).cast(key_types[k]).cast("string").alias(k) for k in keys],
                        F.col("_seq").cast(SEQ_TYPE).alias("_seq")).distinct()


def histories(spark, config, table_cfg, pg_conn) -> dict:
    """sink -> its history as a DataFrame of the key columns and `_seq` (a sink whose table does not exist
    yet, or that is not checked — no `pg_conn` —, is left out)."""
    keys = ", ".join(quote_ident(k) for k in table_cfg.key_columns)
    out = {}
    pg = config.postgres
    name = history_table(table_cfg.name)
    if "postgres" in table_cfg.sinks and pg_conn is not None and pg_columns(pg_conn, pg.schema, name) is not None:
        out["postgres"] = pg_frame(spark, pg, f"SELECT {keys}, _seq FROM {quote_ident(pg.schema)}.{quote_ident(name)}")
    if "iceberg" in table_cfg.sinks and _iceberg_exists(spark, config.iceberg, changes_table(table_cfg.name)):
        out["iceberg"] = spark.table(_spark_ident(config.iceberg, changes_table(table_cfg.name))) \
            .select(*table_cfg.key_columns, "_seq")
    return out


def history_missing(spark, config, table_cfg, pg_conn, limit: int = DEFAULT_LIMIT) -> dict[str, tuple[int, list]]:
    """sink -> (changes Kafka or the other sink's history holds that this sink's history lacks, a sample of
    their keys in normal form)."""
    from pyspark.sql import functions as F

    keys = list(table_cfg.key_columns)
    logs = histories(spark, config, table_cfg, pg_conn)
    if not logs:
        return {}
    # One type per key column: the sinks', so a canonical string from Kafka is read as they store it.
    first = next(iter(logs.values()))
    key_types = {f.name: f.dataType for f in first.schema.fields if f.name in keys}
    kafka = kafka_changes(spark, config, table_cfg).select(
        *[F.col("_values").getItem(k).alias(k) for k in keys], "_seq")
    kafka = _identities(kafka, keys, key_types).persist()
    identities = {sink: _identities(frame, keys, key_types).persist() for sink, frame in logs.items()}
    try:
        out = {}
        for sink, held in identities.items():
            expected = kafka
            for other, other_held in identities.items():
                if other != sink:
                    expected = expected.unionByName(other_held)
            lacking = expected.distinct().join(held, [*keys, "_seq"], "left_anti")
            count = lacking.count()
            sample = []
            if count:
                rows = lacking.select(*keys).distinct().orderBy(*keys).limit(int(limit)).collect()
                sample = sorted((tuple(normal(v) for v in row) for row in rows), key=key_order)
            out[sink] = (count, sample)
        return out
    finally:
        kafka.unpersist()
        for frame in identities.values():
            frame.unpersist()
