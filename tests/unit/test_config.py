"""Loading and validating conf/pipeline.yaml."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from cdc_pipeline import config as config_module
from cdc_pipeline.config import (
    DEFAULTS,
    FROM_PREFIX,
    FROM_TOPIC,
    REQUIRED,
    JobConfig,
    PostgresConfig,
    SinkPath,
    StatsConfig,
    TableConfig,
)
from cdc_pipeline.config_loader import load_config
from cdc_pipeline.errors import ConfigError, PipelineError

REPO = Path(__file__).resolve().parents[2]
PIPELINE_YAML = REPO / "conf" / "pipeline.yaml"

MINIMAL = {
    "source": {"topics": ["oltp.bankdb.bank_accounts"]},
    "tables": [{"topic": "oltp.bankdb.bank_accounts", "key_columns": ["id"]}],
}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return path


def load(tmp_path: Path, document, environ=None):
    return load_config(write(tmp_path, document), environ or {})


def with_changes(**sections):
    """MINIMAL with some sections merged in (a value of None deletes the key)."""
    document = {"source": dict(MINIMAL["source"]), "tables": [dict(t) for t in MINIMAL["tables"]]}
    for section, values in sections.items():
        if section == "tables":
            document["tables"] = values
            continue
        target = document.setdefault(section, {})
        for key, value in values.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return document


def table(**values):
    return with_changes(tables=[{**MINIMAL["tables"][0], **values}])


# --- the shipped file ---------------------------------------------------------------------------------


def test_shipped_pipeline_yaml_with_empty_environment():
    config = load_config(PIPELINE_YAML, {})
    source = config.source
    assert (source.format, source.bootstrap_servers) == ("kafka", "127.0.0.1:9092")
    assert source.topics is None and source.topic_pattern == r"oltp\.bankdb\.(?!debezium_signal$)[A-Za-z0-9_]+"
    assert (source.starting_offsets, source.max_offsets_per_trigger, source.trigger_interval) == ("earliest", 100000, "1 second")
    assert source.fail_on_data_loss is True and dict(source.kafka_options) == {}
    assert config.tables == (
        TableConfig(
            topic="oltp.bankdb.bank_accounts", name="bank_accounts", key_columns=("id",), sinks=("iceberg", "postgres"),
            stats=StatsConfig(kind="user_account_stats", table="user_account_stats", group_by="user_id",
                              sum_column="balance", opened_at_column="created_at"),
        ),
        TableConfig(topic="oltp.bankdb.transactions", name="transactions", key_columns=("id",), sinks=("iceberg", "postgres")),
    )
    ice = config.iceberg
    assert ice.catalog_uri == "jdbc:postgresql://127.0.0.1:5432/iceberg_catalog"
    assert (ice.catalog_name, ice.namespace, ice.catalog_user, ice.catalog_password) == ("lake", "cdc", "dwuser", "dwpassword")
    assert (ice.warehouse, ice.s3_endpoint, ice.s3_region) == ("s3://lakehouse/warehouse", "http://127.0.0.1:8333", "us-east-1")
    assert (ice.s3_access_key, ice.s3_secret_key, ice.write_mode) == ("cdcadmin", "cdcsecret", "merge-on-read")
    assert config.postgres == PostgresConfig(host="127.0.0.1", port=5432, database="bankdw", user="dwuser",
                                             password="dwpassword", schema="public", batch_table="cdc_batches",
                                             dead_letter_table="cdc_dead_letters")
    assert config.job == JobConfig(query_name="cdc-to-lakehouse-and-warehouse",
                                   checkpoint_location="./.stack/checkpoints/cdc", dead_letter_alert_threshold=1)
    assert ice.commit_interval == "30 seconds"
    assert config.sink_paths == (
        SinkPath("postgres", "cdc-to-lakehouse-and-warehouse.postgres", "./.stack/checkpoints/cdc/postgres", "1 second"),
        SinkPath("iceberg", "cdc-to-lakehouse-and-warehouse.iceberg", "./.stack/checkpoints/cdc/iceberg", "1 second",
                 (("minOffsetsPerTrigger", "100000"), ("maxTriggerDelay", "30000ms"))))


def test_a_path_runs_only_for_a_sink_some_table_writes(tmp_path):
    only_pg = load(tmp_path, table(sinks=["postgres"]))
    assert [p.sink for p in only_pg.sink_paths] == ["postgres"]
    pattern = with_changes(source={"topics": None, "topic_pattern": r"oltp\.bankdb\..*"})
    pattern["tables"][0]["sinks"] = ["postgres"]
    assert [p.sink for p in load(tmp_path, pattern).sink_paths] == ["postgres", "iceberg"]  # defaults: both


def test_shipped_pipeline_yaml_takes_the_stack_environment():
    env = {"CDC_PG_HOST": "db.internal", "CDC_PG_PORT": "6543", "CDC_PG_USER": "u", "CDC_PG_PASSWORD": "p w",
           "CDC_PG_DATABASE": "dw2", "CDC_PG_CATALOG_DATABASE": "cat", "CDC_S3_BUCKET": "b2",
           "CDC_S3_ENDPOINT": "https://s3.example", "CDC_KAFKA_BOOTSTRAP": "k1:9093,k2:9093",
           "CDC_STATE_DIR": "/var/cdc", "CDC_S3_ACCESS_KEY": "ak", "CDC_S3_SECRET_KEY": "sk"}
    config = load_config(str(PIPELINE_YAML), env)
    assert config.postgres.port == 6543 and isinstance(config.postgres.port, int)
    assert (config.postgres.host, config.postgres.database, config.postgres.password) == ("db.internal", "dw2", "p w")
    assert config.iceberg.catalog_uri == "jdbc:postgresql://db.internal:6543/cat"
    assert (config.iceberg.warehouse, config.iceberg.s3_endpoint) == ("s3://b2/warehouse", "https://s3.example")
    assert (config.iceberg.s3_access_key, config.iceberg.s3_secret_key) == ("ak", "sk")
    assert config.source.bootstrap_servers == "k1:9093,k2:9093"
    assert config.job.checkpoint_location == "/var/cdc/checkpoints/cdc"


def test_minimal_file_gets_every_default(tmp_path):
    config = load(tmp_path, MINIMAL)
    assert config.tables == (TableConfig(topic="oltp.bankdb.bank_accounts", name="bank_accounts", key_columns=("id",)),)
    assert config.source.max_offsets_per_trigger == DEFAULTS["source.max_offsets_per_trigger"]
    assert config.source.max_record_bytes == DEFAULTS["source.max_record_bytes"] == 16 * 1024 * 1024
    assert config.iceberg.target_file_size_bytes == DEFAULTS["iceberg.target_file_size_bytes"]
    assert config.iceberg.catalog_uri == "jdbc:postgresql://127.0.0.1:5432/iceberg_catalog"
    assert config.job.dead_letter_alert_threshold is None
    assert config.postgres == load_config(PIPELINE_YAML, {}).postgres


def test_sections_may_be_null(tmp_path):
    assert load(tmp_path, {**MINIMAL, "iceberg": None, "job": None}).iceberg.catalog_name == "lake"


# --- interpolation ------------------------------------------------------------------------------------


def test_interpolation_forms(tmp_path):
    document = with_changes(job={"query_name": "q-${NAME}-${EMPTY:-fallback}-${UNSET:-d}-$${LITERAL}-a$b",
                                 "checkpoint_location": "${CKPT}"})
    config = load(tmp_path, document, {"NAME": "x", "EMPTY": "", "CKPT": "/c"})
    assert config.job.query_name == "q-x-fallback-d-${LITERAL}-a$b"
    assert config.job.checkpoint_location == "/c"


def test_empty_variable_without_default_is_used_as_is(tmp_path):
    document = with_changes(postgres={"password": "${PGPASS}"})
    with pytest.raises(ConfigError, match=r"postgres\.password: expected a non-empty string"):
        load(tmp_path, document, {"PGPASS": ""})


def test_missing_variable_names_key_and_variable(tmp_path):
    document = with_changes(postgres={"password": "${CDC_SECRET_PW}"})
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    message = str(caught.value)
    assert message.startswith("postgres.password:") and "CDC_SECRET_PW" in message


def test_missing_variable_in_a_list_names_the_index(tmp_path):
    document = with_changes(source={"topics": ["oltp.bankdb.bank_accounts", "${SECOND_TOPIC}"]})
    with pytest.raises(ConfigError, match=r"source\.topics\[1\]: environment variable SECOND_TOPIC"):
        load(tmp_path, document)


@pytest.mark.parametrize("text", ["${1BAD}", "${}", "${A B}", "${UNCLOSED"])
def test_bad_references(tmp_path, text):
    with pytest.raises(ConfigError, match=r"^job\.query_name: (bad variable reference|unclosed)"):
        load(tmp_path, with_changes(job={"query_name": text}))


def test_defaults_are_interpolated_too(tmp_path):
    config = load(tmp_path, MINIMAL, {"CDC_KAFKA_BOOTSTRAP": "broker:29092", "CDC_STATE_DIR": "/s"})
    assert config.source.bootstrap_servers == "broker:29092"
    assert config.job.checkpoint_location == "/s/checkpoints/cdc"


# --- validation ---------------------------------------------------------------------------------------

INVALID = [
    # (id, document, the exact start of the message or a regex it must match)
    ("negative max offsets", with_changes(source={"max_offsets_per_trigger": -5}),
     "source.max_offsets_per_trigger: expected a positive integer, got -5"),
    ("zero record size limit", with_changes(source={"max_record_bytes": 0}),
     "source.max_record_bytes: expected a positive integer, got 0"),
    ("zero max offsets", with_changes(source={"max_offsets_per_trigger": 0}),
     "source.max_offsets_per_trigger: expected a positive integer, got 0"),
    ("text max offsets", with_changes(source={"max_offsets_per_trigger": "lots"}),
     "source.max_offsets_per_trigger: expected a positive integer, got 'lots'"),
    ("bool max offsets", with_changes(source={"max_offsets_per_trigger": True}),
     "source.max_offsets_per_trigger: expected a positive integer, got True"),
    ("topics and pattern", with_changes(source={"topic_pattern": "oltp\\..*"}),
     "source: set exactly one of source.topics, source.topic_pattern; got both"),
    ("neither topics nor pattern", with_changes(source={"topics": None}),
     "source: set exactly one of source.topics, source.topic_pattern; got neither"),
    ("bad pattern", with_changes(source={"topics": None, "topic_pattern": "oltp.("}),
     "source.topic_pattern: expected a regular expression, got 'oltp.('"),
    ("empty topics", with_changes(source={"topics": []}), "source.topics: expected a non-empty list of strings, got []"),
    ("duplicate topics", with_changes(source={"topics": ["a.b.c", "a.b.c"]}), "source.topics[1]: duplicate entry 'a.b.c'"),
    ("format", with_changes(source={"format": "spark"}), "source.format: expected one of kafka, got 'spark'"),
    ("interval", with_changes(source={"trigger_interval": "2 parsecs"}), "source.trigger_interval: expected '<n>"),
    ("interval number", with_changes(source={"trigger_interval": 2}), "source.trigger_interval: expected '<n>"),
    ("maintenance interval", with_changes(maintenance={"interval": "soon"}), "maintenance.interval: expected '<n>"),
    ("maintenance interval zero", with_changes(maintenance={"interval": "0 hours"}),
     "maintenance.interval: expected a positive interval, got '0 hours'"),
    ("orphans too young", with_changes(maintenance={"orphan_older_than": "23 hours"}),
     "maintenance.orphan_older_than: expected at least 24 hours"),
    ("retain none", with_changes(maintenance={"retain_last": 0}), "maintenance.retain_last: expected a positive integer, got 0"),
    ("conflict retries", with_changes(iceberg={"commit_conflict_retries": -1}),
     "iceberg.commit_conflict_retries: expected an integer >= 0, got -1"),
    ("starting offsets word", with_changes(source={"starting_offsets": "middle"}),
     "source.starting_offsets: expected earliest, latest, or JSON"),
    ("starting offsets json", with_changes(source={"starting_offsets": '{"t": {"0": "x"}}'}),
     "source.starting_offsets: expected earliest, latest, or JSON"),
    ("starting offsets below -2", with_changes(source={"starting_offsets": {"t": {0: -3}}}),
     "source.starting_offsets: expected earliest, latest, or JSON"),
    ("fail on data loss", with_changes(source={"fail_on_data_loss": "maybe"}),
     "source.fail_on_data_loss: expected true or false, got 'maybe'"),
    ("kafka option name", with_changes(source={"kafka_options": {"group.id": "x"}}),
     "source.kafka_options: option names must start with 'kafka.', got 'group.id'"),
    ("kafka bootstrap option", with_changes(source={"kafka_options": {"kafka.bootstrap.servers": "x:1"}}),
     "source.kafka_options.kafka.bootstrap.servers: set source.bootstrap_servers instead"),
    ("kafka option value", with_changes(source={"kafka_options": {"kafka.x": [1]}}),
     "source.kafka_options.kafka.x: expected a string or number, got [1]"),
    ("bootstrap without port", with_changes(source={"bootstrap_servers": "localhost"}),
     "source.bootstrap_servers: expected host:port[,host:port...], got 'localhost'"),
    ("tables empty", with_changes(tables=[]), "tables: expected a non-empty list of tables, got []"),
    ("tables mapping", with_changes(tables={"topic": "x"}), "tables: expected a non-empty list of tables"),
    ("table entry null", with_changes(tables=[None]), "tables[0]: expected a mapping with keys topic, name, key_columns, sinks, stats, got None"),
    ("missing key columns", table(key_columns=None), "tables[0].key_columns: required key is missing"),
    ("missing topic", with_changes(tables=[{"key_columns": ["id"]}]), "tables[0].topic: required key is missing"),
    ("empty key columns", table(key_columns=[]), "tables[0].key_columns: expected a non-empty list of strings, got []"),
    ("key columns string", table(key_columns="id"), "tables[0].key_columns: expected a non-empty list of strings, got 'id'"),
    ("duplicate key column", table(key_columns=["id", "id"]), "tables[0].key_columns[1]: duplicate entry 'id'"),
    ("unknown sink", table(sinks=["s3"]), "tables[0].sinks[0]: expected one of iceberg, postgres, got 's3'"),
    ("no sinks", table(sinks=[]), "tables[0].sinks: expected a non-empty list of strings, got []"),
    ("not subscribed", table(topic="oltp.bankdb.other"),
     "tables[0].topic: 'oltp.bankdb.other' is not subscribed by source.topics / source.topic_pattern"),
    ("bad name", table(name="bank-accounts"), "tables[0].name: expected an identifier"),
    ("long name", table(name="n" * 56), "tables[0].name: expected at most 55 characters"),
    ("duplicate topic", with_changes(tables=[MINIMAL["tables"][0], {**MINIMAL["tables"][0], "name": "other"}]),
     "tables[1].topic: 'oltp.bankdb.bank_accounts' is configured twice"),
    ("duplicate name", with_changes(source={"topics": ["a.b.t", "c.d.t"]},
                                    tables=[{"topic": "a.b.t", "key_columns": ["id"]}, {"topic": "c.d.t", "key_columns": ["id"]}]),
     "tables[1].name: 't' is already the name of the table for 'a.b.t'"),
    ("stats without postgres", table(sinks=["iceberg"], stats={"kind": "user_account_stats", "group_by": "u", "sum_column": "b"}),
     "tables[0].stats: statistics live in PostgreSQL, but tables[0].sinks is ['iceberg']"),
    ("stats kind", table(stats={"kind": "histogram", "group_by": "u", "sum_column": "b"}),
     "tables[0].stats.kind: expected one of user_account_stats, got 'histogram'"),
    ("stats group_by", table(stats={"kind": "user_account_stats", "sum_column": "b"}),
     "tables[0].stats.group_by: required key is missing"),
    ("write mode", with_changes(iceberg={"write_mode": "append"}),
     "iceberg.write_mode: expected one of merge-on-read, copy-on-write, got 'append'"),
    ("file size", with_changes(iceberg={"target_file_size_bytes": 0}),
     "iceberg.target_file_size_bytes: expected a positive integer, got 0"),
    ("catalog uri", with_changes(iceberg={"catalog_uri": "postgresql://h/db"}), "iceberg.catalog_uri: expected a JDBC URL"),
    ("warehouse", with_changes(iceberg={"warehouse": "lakehouse/warehouse"}), "iceberg.warehouse: expected a URI"),
    ("endpoint", with_changes(iceberg={"s3_endpoint": "127.0.0.1:8333"}), "iceberg.s3_endpoint: expected an http:// or https:// URL"),
    ("catalog name", with_changes(iceberg={"catalog_name": "my lake"}), "iceberg.catalog_name: expected an identifier"),
    ("port range", with_changes(postgres={"port": 70000}), "postgres.port: expected a port number 1..65535, got 70000"),
    ("port text", with_changes(postgres={"port": "fivefour"}), "postgres.port: expected a port number 1..65535, got 'fivefour'"),
    ("schema", with_changes(postgres={"schema": "dw schema"}), "postgres.schema: expected an identifier"),
    ("threshold", with_changes(job={"dead_letter_alert_threshold": 0}),
     "job.dead_letter_alert_threshold: expected a positive integer, got 0"),
    ("empty query name", with_changes(job={"query_name": ""}), "job.query_name: expected a non-empty string, got ''"),
    ("relation clash", with_changes(postgres={"batch_table": "bank_accounts_current"}),
     "tables[0].name: PostgreSQL table 'bank_accounts_current' would also be used by postgres.batch_table"),
    ("same progress and dead letter table", with_changes(postgres={"batch_table": "x", "dead_letter_table": "x"}),
     "postgres.dead_letter_table: 'x' is also postgres.batch_table"),
]


@pytest.mark.parametrize("document, expected", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_values_are_reported_with_key_path_and_value(tmp_path, document, expected):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert isinstance(caught.value, PipelineError)


def test_the_invalid_cases_differ_from_a_valid_document(tmp_path):
    """Each case above is MINIMAL plus one change; MINIMAL itself must load, or the cases prove nothing."""
    assert load(tmp_path, with_changes()).tables[0].name == "bank_accounts"


@pytest.mark.parametrize(
    "document, path, allowed",
    [
        ({**MINIMAL, "sink": {}}, "sink", ", ".join(config_module.TOP_LEVEL)),
        (with_changes(maintenance={"retain": 3}), "maintenance.retain",
         "interval, min_input_files, delete_file_threshold, expire_older_than, retain_last, orphan_older_than"),
        (with_changes(source={"max_offset_per_trigger": 5}), "source.max_offset_per_trigger",
         "format, bootstrap_servers, topics, topic_pattern, starting_offsets, max_offsets_per_trigger, trigger_interval, "
         "max_record_bytes, fail_on_data_loss, kafka_options"),
        (table(keys=["id"]), "tables[0].keys", "topic, name, key_columns, sinks, stats"),
        (table(stats={"kind": "user_account_stats", "group_by": "u", "sum_column": "b", "avg": "b"}), "tables[0].stats.avg",
         "kind, table, group_by, sum_column, opened_at_column"),
        (with_changes(postgres={"hostname": "x"}), "postgres.hostname", "host, port, database, user, password, schema, batch_table, dead_letter_table"),
    ],
)
def test_unknown_keys_list_the_allowed_ones(tmp_path, document, path, allowed):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    message = str(caught.value)
    assert message.startswith(f"{path}: unknown key") and message.endswith(allowed), message


@pytest.mark.parametrize(
    "text, expected",
    [("", "the file is empty"), ("source: [\n", "not valid YAML"), ("- 1\n- 2\n", "the configuration file: expected a mapping"),
     ("tables: []\n", "source: required section is missing"), ("1: x\n", "the configuration file: keys must be strings")],
)
def test_file_level_errors(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load(tmp_path, text)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "nope.yaml", {})


# --- values and helpers -------------------------------------------------------------------------------


def test_accepted_forms(tmp_path):
    document = with_changes(
        source={"starting_offsets": {"oltp.bankdb.bank_accounts": {0: 23, "1": -2}}, "trigger_interval": "500 milliseconds",
                "fail_on_data_loss": "false", "max_offsets_per_trigger": "250",
                "kafka_options": {"kafka.fetch.max.bytes": 1048576, "kafka.check.crcs": True}},
        postgres={"port": "5433"},
    )
    config = load(tmp_path, document)
    assert config.source.starting_offsets == '{"oltp.bankdb.bank_accounts":{"0":23,"1":-2}}'
    assert config.source.trigger_interval_ms == 500 and config.source.fail_on_data_loss is False
    assert config.source.max_offsets_per_trigger == 250 and config.postgres.port == 5433
    assert dict(config.source.kafka_options) == {"kafka.fetch.max.bytes": "1048576", "kafka.check.crcs": "true"}
    json_text = '{"oltp.bankdb.bank_accounts": {"0": 5}}'
    assert load(tmp_path, with_changes(source={"starting_offsets": json_text})).source.starting_offsets == \
        '{"oltp.bankdb.bank_accounts":{"0":5}}'


@pytest.mark.parametrize("text, ms", [("2 seconds", 2000), ("1 minute", 60000), ("0 seconds", 0), ("3 Hours", 10800000),
                                      ("1 millisecond", 1)])
def test_trigger_interval_ms(tmp_path, text, ms):
    assert load(tmp_path, with_changes(source={"trigger_interval": text})).source.trigger_interval_ms == ms


def test_maintenance_defaults_and_values(tmp_path):
    assert load(tmp_path, with_changes()).maintenance == config_module.MaintenanceConfig(
        interval_ms=3_600_000, min_input_files=5, delete_file_threshold=3, expire_older_than_ms=7 * 86_400_000,
        retain_last=10, orphan_older_than_ms=3 * 86_400_000)
    config = load(tmp_path, with_changes(maintenance={"interval": "15 minutes", "expire_older_than": "0 seconds",
                                                      "retain_last": 2, "orphan_older_than": "1 day"}))
    assert (config.maintenance.interval_ms, config.maintenance.expire_older_than_ms, config.maintenance.retain_last,
            config.maintenance.orphan_older_than_ms) == (900_000, 0, 2, 86_400_000)


def test_reader_options(tmp_path):
    config = load(tmp_path, with_changes(source={"kafka_options": {"kafka.session.timeout.ms": "6000"}}))
    assert config.source.reader_options() == {
        "kafka.bootstrap.servers": "127.0.0.1:9092", "subscribe": "oltp.bankdb.bank_accounts",
        "startingOffsets": "earliest", "maxOffsetsPerTrigger": "100000", "failOnDataLoss": "true",
        "kafka.session.timeout.ms": "6000", "kafka.fetch.max.wait.ms": "10",
    }
    # The job's consumer defaults give way to the config's.
    slow = load(tmp_path, with_changes(source={"kafka_options": {"kafka.fetch.max.wait.ms": "500"}}))
    assert slow.source.reader_options()["kafka.fetch.max.wait.ms"] == "500"
    pattern = load(tmp_path, with_changes(source={"topics": None, "topic_pattern": r"oltp\.bankdb\..*"}))
    assert pattern.source.reader_options()["subscribePattern"] == r"oltp\.bankdb\..*"
    assert "subscribe" not in pattern.source.reader_options()


def test_transactions_section_and_the_topics_read(tmp_path):
    config = load(tmp_path, with_changes())
    assert (config.transactions.consistent, config.transactions.topic, config.transactions.release_after_ms,
            config.transactions.max_held_records) == (True, "oltp.transaction", 60_000, 200_000)
    # The job reads the transaction topic beside the tables' (not twice when the pattern covers it).
    assert config.reader_options()["subscribe"] == "oltp.bankdb.bank_accounts,oltp.transaction"
    pattern = load(tmp_path, with_changes(source={"topics": None, "topic_pattern": r"oltp\.bankdb\..*"}))
    assert pattern.reader_options()["subscribePattern"] == r"(?:oltp\.bankdb\..*)|oltp\.transaction"
    wide = load(tmp_path, with_changes(source={"topics": None, "topic_pattern": r"oltp\..*"}))
    assert wide.reader_options()["subscribePattern"] == r"oltp\..*"
    # Switched off, the topic is still read (and skipped): leaving a checkpoint's subscription fails it.
    off = load(tmp_path, with_changes(transactions={"consistent": False}))
    assert off.reader_options()["subscribe"] == "oltp.bankdb.bank_accounts,oltp.transaction"
    custom = load(tmp_path, with_changes(transactions={"topic": "cdc.transaction", "release_after": "5 seconds",
                                                       "max_held_records": 10}))
    assert (custom.transactions.topic, custom.transactions.release_after_ms, custom.transactions.max_held_records) == (
        "cdc.transaction", 5000, 10)
    with pytest.raises(ConfigError, match=r"transactions.topic: expected Debezium's '<topic.prefix>.transaction', got 'oltp.tx'"):
        load(tmp_path, with_changes(transactions={"topic": "oltp.tx"}))
    with pytest.raises(ConfigError, match="transactions.release_after: expected at least 1 second"):
        load(tmp_path, with_changes(transactions={"release_after": "10 milliseconds"}))
    with pytest.raises(ConfigError, match="transactions.max_held_records"):
        load(tmp_path, with_changes(transactions={"max_held_records": 0}))


def test_iceberg_and_postgres_helpers():
    config = load_config(PIPELINE_YAML, {})
    conf = config.iceberg.spark_conf()
    assert conf["spark.sql.catalog.lake"] == "org.apache.iceberg.spark.SparkCatalog"
    assert conf["spark.sql.catalog.lake.uri"] == "jdbc:postgresql://127.0.0.1:5432/iceberg_catalog"
    assert conf["spark.sql.catalog.lake.s3.path-style-access"] == "true"
    assert conf["spark.sql.catalog.lake.warehouse"] == "s3://lakehouse/warehouse"
    assert config.iceberg.table_properties()["write.merge.mode"] == "merge-on-read"
    assert config.postgres.jdbc_url == "jdbc:postgresql://127.0.0.1:5432/bankdw"
    assert config.postgres.connect_kwargs() == {"host": "127.0.0.1", "port": 5432, "dbname": "bankdw",
                                                "user": "dwuser", "password": "dwpassword"}
    assert config.tables[0].history_table == "bank_accounts_history"
    assert config.tables[0].current_table == "bank_accounts_current"
    assert config.tables[0].decode_key_columns == ("id",)


def test_configuration_is_frozen_and_hides_secrets():
    config = load_config(PIPELINE_YAML, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.postgres.port = 1
    with pytest.raises(TypeError):
        config.source.kafka_options["kafka.x"] = "y"
    text = repr(config)
    assert "dwpassword" not in text and "cdcsecret" not in text and "cdcadmin" not in text
    assert "bankdw" in text


# --- the documentation table --------------------------------------------------------------------------


def _render(default) -> str:
    if default is REQUIRED or default is FROM_TOPIC or default is FROM_PREFIX:
        return default.text
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, list):
        return "`[" + ", ".join(default) + "]`"
    if isinstance(default, dict):
        return "`{}`"
    return f"`{default}`"


def test_docstring_table_matches_the_defaults():
    rows = {}
    for line in config_module.__doc__.splitlines():
        match = re.match(r"^\| `([^`]+)` \| ([^|]+) \| (.+?) \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = match.group(3).strip()
    assert list(rows) == list(DEFAULTS)
    for key, default in DEFAULTS.items():
        assert rows[key] == _render(default), key


@pytest.mark.parametrize("change, path", [
    ({"key_columns": ["_seq"]}, "tables[0].key_columns"),
    ({"stats": {"kind": "user_account_stats", "group_by": "_OP", "sum_column": "b"}}, "tables[0].stats.group_by"),
])
def test_key_and_stats_columns_may_not_be_named_like_pipeline_columns(tmp_path, change, path):
    with pytest.raises(ConfigError, match=rf"^{re.escape(path)}: .* named like a pipeline column .*cannot be renamed"):
        load(tmp_path, table(**change))


def test_key_columns_longer_than_postgresql_identifiers_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^tables\[0\]\.key_columns: .* longer than PostgreSQL's 63-byte .*cannot be renamed"):
        load(tmp_path, table(key_columns=["k" * 64]))



def test_a_malformed_webhook_url_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError, match=r"alerts\.webhook_url: expected an http") as raised:
        load(tmp_path, with_changes(alerts={"webhook_url": "hooks.example.com/T0/B0/SECRET"}))
    assert "SECRET" not in str(raised.value)
