"""The errors the CDC pipeline raises on purpose; every message says what was expected and what was found."""
from __future__ import annotations


class PipelineError(Exception):
    """Base class for every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """The pipeline configuration is invalid; the message names the key path and the bad value."""


class SequenceError(PipelineError, ValueError):
    """Binlog coordinates that cannot be turned into a change sequence (see `ordering`)."""


class SchemaError(PipelineError):
    """A source schema a sink cannot take: an unsafe type change, an unknown type, an invalid column
    name, or a source column named like one of the pipeline's metadata columns (see `pg_sql`)."""


class StagingLostError(PipelineError):
    """A batch's staging rows are not all in PostgreSQL when it is applied (crash recovery empties the
    UNLOGGED staging tables, or another attempt of the batch deleted them): the batch fails and is
    replayed instead of committing fewer rows than it holds."""


class DecodeError(PipelineError):
    """A Kafka record that is not a valid Debezium change event; it goes to the dead-letter table.

    `kind` is a short machine word (stored in `cdc_dead_letters.error_kind`), `reason` a sentence for
    people naming the field and what was expected vs found (stored in `cdc_dead_letters.reason`).

    Kinds:
      malformed_json           key or value is not UTF-8 JSON
      empty_value              a value of 0 bytes (a tombstone's value is null, not empty)
      not_an_envelope          JSON, but not a Debezium envelope: no schema/payload/op/source, no
                               source.db/table/ts_ms, or the row image the op needs (after for r/c/u,
                               before for d) is missing
      unknown_op               op is not one of r, c, u, d, t (e.g. 'm' message)
      truncate                 op 't': a TRUNCATE TABLE in MySQL; not applied to the sinks (alerted)
      missing_key              the event has no usable primary key: no Kafka key and no configured key
                               columns, a key column that is null or absent, or a Kafka key that
                               disagrees with the row image
      type_mismatch            a value does not match its column's schema (wrong JSON type, out of
                               range, bad base64, unparseable timestamp, null in a required column,
                               or Debezium's unavailable-value placeholder)
      schema_incompatible      the embedded schema cannot be mapped to sink columns (nested or
                               unsupported types, bad decimal parameters, payload fields missing from
                               the schema, Kafka key columns other than the configured ones)
      missing_source_position  source.file/pos/row absent or unusable for the change sequence
    """

    KINDS = frozenset(
        {
            "malformed_json",
            "empty_value",
            "not_an_envelope",
            "unknown_op",
            "truncate",
            "missing_key",
            "type_mismatch",
            "schema_incompatible",
            "missing_source_position",
        }
    )

    def __init__(self, kind: str, reason: str):
        if kind not in self.KINDS:
            raise ValueError(f"unknown DecodeError kind {kind!r}; expected one of {sorted(self.KINDS)}")
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason

    def __reduce__(self):  # picklable, so Spark can ship it between processes
        return (type(self), (self.kind, self.reason))
