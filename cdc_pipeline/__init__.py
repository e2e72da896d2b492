"""The CDC pipeline: MySQL -> Debezium -> Kafka -> Spark Structured Streaming -> Iceberg + PostgreSQL.

Pure modules (no Spark, no I/O besides reading the YAML configuration), unit-tested in tests/unit:

    errors     PipelineError and its subclasses (ConfigError, DecodeError, SchemaError, SequenceError)
    debezium   Kafka record -> ChangeEvent; the only module that knows the Debezium envelope
    ordering   the numeric change sequence from binlog coordinates; last change per key
    metadata   the metadata columns (_op, _seq, ...) and a ChangeEvent as one staging row
    config     conf/pipeline.yaml -> frozen PipelineConfig
    pg_sql     PostgreSQL DDL and the statements that apply one batch

The streaming job and the sinks build on them.
"""
