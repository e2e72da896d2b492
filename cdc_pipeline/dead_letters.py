"""Dead letters: every record that cannot be applied, with the raw bytes and the reason.

Three sources: records the decoder rejected (the error rows of the decoded batch carry their raw bytes),
changes whose column set the schema plan rejected, and changes with a value no sink can store (their
raw bytes are read back from the batch by Kafka coordinates; rare, so a join is fine).
"""
from __future__ import annotations

from .batch import KIND_CHANGE, KIND_ERROR, columns_to_json

DEAD_LETTER_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "kafka_key",
                       "kafka_value", "error_kind", "reason", "_batch_id")


def _as_errors(decoded, match, kind: str, reason, replaced: dict | None = None):
    """`decoded` with the changes `match` selects turned into error rows of `kind` and `reason` (a Column);
    `replaced`: other columns' new values, for every row."""
    from pyspark.sql import functions as F
    replaced = replaced or {}
    return decoded.select(
        *[F.when(match, F.lit(KIND_ERROR)).otherwise(F.col("_kind")).alias("_kind") if c == "_kind"
          else F.when(match, F.lit(kind)).otherwise(F.col(c)).alias(c) if c == "_error_kind"
          else F.when(match, reason).otherwise(F.col(c)).alias(c) if c == "_error_reason"
          else replaced[c].alias(c) if c in replaced
          else F.col(c) for c in decoded.columns])


def mark_rejected(decoded, rejected: list[tuple[str, tuple, str]]):
    """The decoded batch with rejected changes turned into error rows (raw bytes filled in later)."""
    from pyspark.sql import functions as F
    for topic, columns, reason in rejected:
        match = ((F.col("_kind") == KIND_CHANGE) & (F.col("_kafka_topic") == topic)
                 & (F.col("_columns") == columns_to_json(columns)))
        decoded = _as_errors(decoded, match, "schema_incompatible", F.lit(reason))
    return decoded


NUL = "\u0000"
# A NUL escape in JSON text: backslash, u0000, after an even number of backslashes (two backslashes and
# u0000 are an escaped backslash and the text "u0000"). Java regex syntax, for regexp_replace.
_JSON_NUL_ESCAPE = r"(?<!\\)((?:\\\\)*)\\u0000"


def mark_nul_values(decoded):
    """Changes whose row holds a NUL character (U+0000) in a string become error rows: PostgreSQL's
    text cannot store it, and both sinks hold the same rows. In the before image (JSON text) a NUL is
    replaced by U+FFFD instead: the change itself is storable, and jsonb refuses the NUL escape."""
    from pyspark.sql import functions as F
    # Every row of every batch passes here: `exists` stops at the first NUL and allocates nothing; the
    # column list of the reason is built for the matched rows only.
    match = (F.col("_kind") == KIND_CHANGE) & F.exists(F.map_values("_values"), lambda v: F.instr(v, NUL) > 0)
    nul_columns = F.filter(F.map_keys("_values"), lambda k: F.instr(F.col("_values")[k], NUL) > 0)
    reason = F.concat(F.lit("column(s) "), F.array_join(nul_columns, ", "),
                      F.lit(" hold a NUL character (U+0000) in a string, which PostgreSQL text cannot store"))
    before = F.when(F.instr(F.col("_before"), "\\u0000") > 0,
                    F.regexp_replace("_before", _JSON_NUL_ESCAPE, "$1\\\\ufffd")).otherwise(F.col("_before"))
    return _as_errors(decoded, match, "unstorable_value", reason, {"_before": before})


def dead_letter_frame(decoded, batch_df, batch_id: int):
    """Error rows as the dead-letter staging shape, raw key/value recovered where the decoder kept none."""
    from pyspark.sql import functions as F
    errors = decoded.where(F.col("_kind") == KIND_ERROR)
    raw = batch_df.select(F.col("topic").alias("_kafka_topic"), F.col("partition").alias("_kafka_partition"),
                          F.col("offset").alias("_kafka_offset"), F.col("key").alias("_k"), F.col("value").alias("_v"))
    # A rejected change has an op but no raw bytes (the decoder only keeps them for its own errors).
    rejected_change = F.col("_raw_value").isNull() & F.col("_raw_key").isNull() & F.col("_op").isNotNull()
    recovered = errors.where(rejected_change).join(raw, ["_kafka_topic", "_kafka_partition", "_kafka_offset"]) \
        .withColumn("_raw_key", F.col("_k")).withColumn("_raw_value", F.col("_v")).drop("_k", "_v")
    kept = errors.where(~rejected_change)
    return kept.unionByName(recovered).select(
        F.col("_kafka_topic").alias("kafka_topic"), F.col("_kafka_partition").alias("kafka_partition"),
        F.col("_kafka_offset").alias("kafka_offset"), F.col("_kafka_ts").alias("kafka_timestamp"),
        F.col("_raw_key").alias("kafka_key"), F.col("_raw_value").alias("kafka_value"),
        F.col("_error_kind").alias("error_kind"), F.col("_error_reason").alias("reason"),
        F.lit(batch_id).cast("bigint").alias("_batch_id"))
