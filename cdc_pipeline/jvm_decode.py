"""Decoding on the JVM: a micro-batch of Kafka rows -> DECODED_SCHEMA rows, with no Python worker.

`decode_batch_jvm` is a drop-in for `batch.decode_batch`: the same signature, the same columns, types
and values (decoded by io.cdcpipeline.debezium.DebeziumDecoder, java/debezium-decoder, a port of
debezium.decode_record + batch.decode_partition), but as one Spark SQL projection over the Kafka rows:
no RDD round trip, no pickling, no BatchEvalPython. The key columns per topic are handed to the UDF
when it is built (JSON, see `key_columns_json`).
"""
from __future__ import annotations

import json

DECODER_CLASS = "io.cdcpipeline.debezium.DebeziumDecoder"
# The decoded struct's fields, in DECODED_SCHEMA order; the Kafka head comes from the input rows.
_HEAD = {"_kafka_topic": "topic", "_kafka_partition": "partition", "_kafka_offset": "offset", "_kafka_ts": "timestamp"}
_ORDER = ("_kind", "_kafka_topic", "_kafka_partition", "_kafka_offset", "_kafka_ts", "_op", "_seq", "_source_ts",
          "_binlog_file", "_binlog_pos", "_binlog_row", "_key", "_values", "_before", "_columns",
          "_error_kind", "_error_reason", "_raw_key", "_raw_value")


def key_columns_json(key_columns_by_topic) -> str:
    """The UDF's configuration: topic -> list of key columns, null ("use the Kafka key"), or
    {"invalid": text} for a value decode_record refuses with ValueError(text) (every record of that
    topic then becomes a decoder_failure, as in the Python decoder)."""
    config = {}
    for topic, key_columns in dict(key_columns_by_topic).items():
        if not isinstance(topic, str):
            raise TypeError(f"topics must be strings, got {topic!r}")
        if key_columns is None:
            config[topic] = None
        elif isinstance(key_columns, str) or not key_columns:
            config[topic] = {"invalid": f"key_columns must be a non-empty sequence of column names, got {key_columns!r}"}
        else:
            names = list(key_columns)
            if not all(isinstance(name, str) for name in names):
                raise TypeError(f"key columns of {topic} must be strings, got {key_columns!r}")
            config[topic] = names
    return json.dumps(config)


def decoder_column(spark, key_columns_by_topic, key="key", value="value", topic="topic"):
    """The UDF call as a Column of the decoded struct (every DECODED_SCHEMA field but the Kafka head)."""
    from pyspark.sql import functions as F
    from pyspark.sql.column import Column

    jvm = spark.sparkContext._jvm
    decoder = jvm
    for part in DECODER_CLASS.split("."):
        decoder = getattr(decoder, part)
    if type(decoder).__name__ != "JavaClass":
        raise RuntimeError(f"{DECODER_CLASS} is not on the Spark classpath; run `make jars` (it builds "
                           "jars/spark/cdc-debezium-decoder.jar) and start the session with jars/spark/*.jar")
    return Column(decoder.decode(key_columns_json(key_columns_by_topic), F.col(key)._jc, F.col(value)._jc, F.col(topic)._jc))


def too_large_column(max_record_bytes: int):
    """The decoded struct of a record whose value is over the limit: an error row keeping its bytes
    (batch.decode_partition's, built in Spark: the decoder never sees such a value)."""
    from pyspark.sql import functions as F

    from .batch import DECODED_SCHEMA, KIND_ERROR, TOO_LARGE
    types = dict(field.strip().split(" ", 1) for field in DECODED_SCHEMA.split(", "))
    before, after = TOO_LARGE.format(size="\0", limit=max_record_bytes).split("\0")
    values = {"_kind": F.lit(KIND_ERROR), "_error_kind": F.lit("record_too_large"),
              "_error_reason": F.concat(F.lit(before), F.length("value").cast("string"), F.lit(after)),
              "_raw_key": F.col("key"), "_raw_value": F.col("value")}
    return F.struct(*[values.get(name, F.lit(None).cast(types[name])).alias(name)
                      for name in _ORDER if name not in _HEAD])


def decode_batch_jvm(batch_df, key_columns_by_topic: dict[str, tuple[str, ...] | None],
                     max_record_bytes: int | None = None):
    """The batch's Kafka rows decoded on the JVM, as a DataFrame of batch.DECODED_SCHEMA; a value over
    `max_record_bytes` is not handed to the decoder (CASE WHEN evaluates only its chosen branch)."""
    from pyspark.sql import functions as F

    decoder = decoder_column(batch_df.sparkSession, key_columns_by_topic)
    if max_record_bytes:
        decoder = F.when(F.length("value") > max_record_bytes, too_large_column(max_record_bytes)).otherwise(decoder)
    decoded = batch_df.select(
        *[F.col(source).alias(name) for name, source in _HEAD.items()],
        decoder.alias("_decoded"))
    return decoded.select(*[F.col(name) if name in _HEAD else F.col(f"_decoded.{name}").alias(name) for name in _ORDER])
