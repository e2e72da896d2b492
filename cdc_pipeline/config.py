"""Pipeline configuration: one YAML file (`conf/pipeline.yaml`), loaded once into frozen dataclasses.

String values may contain `${VAR}` (the environment variable; an error when it is not set) and
`${VAR:-default}` (the default when VAR is unset or empty), also inside longer strings; `$${` is a
literal `${`. Defaults below are interpolated the same way. Unknown keys are errors, and every error
names the key path and the bad value.

| Key | Type | Default | Description |
|-----|------|---------|-------------|
| `source.format` | string | `kafka` | Spark source format: `kafka`, Spark's own Kafka connector (spark-sql-kafka-0-10, in jars/spark) |
| `source.bootstrap_servers` | string | `${CDC_KAFKA_BOOTSTRAP:-127.0.0.1:9092}` | Kafka brokers, `host:port[,host:port...]` |
| `source.topics` | list of strings | null | topics to read; set exactly one of `topics`, `topic_pattern` |
| `source.topic_pattern` | string | null | regular expression of topics to read (Kafka `subscribePattern`) |
| `source.starting_offsets` | string | `earliest` | where a new checkpoint starts: `earliest`, `latest`, or JSON `{"topic": {"0": 23}}` (a YAML mapping is accepted) |
| `source.max_offsets_per_trigger` | int > 0 | `100000` | most records per micro-batch, over all partitions |
| `source.trigger_interval` | interval | `2 seconds` | processing-time trigger |
| `source.fail_on_data_loss` | bool | `true` | fail when offsets vanished (retention, topic re-created) instead of skipping them |
| `source.kafka_options` | map string -> string | `{}` | extra `kafka.*` consumer options passed to the source |
| `tables[].topic` | string | (required) | the Debezium topic, `<prefix>.<db>.<table>` |
| `tables[].name` | identifier | (table part of the topic) | sink base name: `<name>_history`, `<name>_current`, Iceberg `<name>_current` / `<name>_changes` |
| `tables[].key_columns` | list of strings | (required) | primary-key columns; the Kafka key must agree with them |
| `tables[].sinks` | list of strings | `[iceberg, postgres]` | subset of `iceberg`, `postgres` |
| `tables[].stats.kind` | string | (required) | aggregate to maintain in PostgreSQL; only `user_account_stats` |
| `tables[].stats.table` | identifier | `user_account_stats` | the aggregate table |
| `tables[].stats.group_by` | string | (required) | column to group by (e.g. `user_id`) |
| `tables[].stats.sum_column` | string | (required) | column to count/sum/min/max (e.g. `balance`) |
| `tables[].stats.opened_at_column` | string | null | column whose minimum is `first_opened_at` (e.g. `created_at`); null leaves it empty |
| `iceberg.catalog_name` | identifier | `lake` | Spark catalog name |
| `iceberg.namespace` | identifier | `cdc` | namespace of the Iceberg tables |
| `iceberg.catalog_uri` | string | `jdbc:postgresql://${CDC_PG_HOST:-127.0.0.1}:${CDC_PG_PORT:-5432}/${CDC_PG_CATALOG_DATABASE:-iceberg_catalog}` | JDBC URL of the catalog database |
| `iceberg.catalog_user` | string | `${CDC_PG_USER:-dwuser}` | catalog database user |
| `iceberg.catalog_password` | string | `${CDC_PG_PASSWORD:-dwpassword}` | catalog database password |
| `iceberg.warehouse` | string | `s3://${CDC_S3_BUCKET:-lakehouse}/warehouse` | warehouse location |
| `iceberg.s3_endpoint` | string | `${CDC_S3_ENDPOINT:-http://127.0.0.1:8333}` | S3 endpoint (path-style access) |
| `iceberg.s3_access_key` | string | `${CDC_S3_ACCESS_KEY:-cdcadmin}` | S3 access key |
| `iceberg.s3_secret_key` | string | `${CDC_S3_SECRET_KEY:-cdcsecret}` | S3 secret key |
| `iceberg.s3_region` | string | `${CDC_S3_REGION:-us-east-1}` | S3 region |
| `iceberg.write_mode` | string | `merge-on-read` | `merge-on-read` or `copy-on-write` for MERGE/UPDATE/DELETE |
| `iceberg.target_file_size_bytes` | int > 0 | `134217728` | `write.target-file-size-bytes` of the tables; also the compaction target |
| `iceberg.commit_conflict_retries` | int >= 0 | `5` | how often a commit that lost a race with another writer (the stream vs compaction) is retried, with backoff |
| `postgres.host` | string | `${CDC_PG_HOST:-127.0.0.1}` | warehouse host |
| `postgres.port` | int 1..65535 | `${CDC_PG_PORT:-5432}` | warehouse port |
| `postgres.database` | string | `${CDC_PG_DATABASE:-bankdw}` | warehouse database |
| `postgres.user` | string | `${CDC_PG_USER:-dwuser}` | warehouse user |
| `postgres.password` | string | `${CDC_PG_PASSWORD:-dwpassword}` | warehouse password |
| `postgres.schema` | identifier | `public` | schema of the warehouse tables |
| `postgres.batch_table` | identifier | `cdc_batches` | progress table: one row per applied micro-batch |
| `postgres.dead_letter_table` | identifier | `cdc_dead_letters` | undecodable records with the reason |
| `job.query_name` | string | `cdc-to-lakehouse-and-warehouse` | streaming query name (also `cdc_batches.query_id`) |
| `job.checkpoint_location` | string | `${CDC_STATE_DIR:-./.stack}/checkpoints/cdc` | Spark checkpoint directory (relative to the working directory) |
| `job.dead_letter_alert_threshold` | int > 0 | null | dead letters in one micro-batch at or above which the job logs an ERROR and alerts; null: never |
| `job.status_file` | string | `${CDC_STATE_DIR:-./.stack}/run/cdc-stream.status.json` | where the job keeps its state (running, restarting, permanently failed, last batch, last error) for `make status` |
| `job.max_restarts` | int >= 0 | `10` | restarts of a failed query (from its checkpoint) in a row before the job gives up: permanently failed |
| `job.restart_backoff_initial` | interval | `5 seconds` | wait before the first restart; doubles with each failure in a row |
| `job.restart_backoff_max` | interval | `5 minutes` | longest wait between restarts |
| `alerts.webhook_url` | string | `${CDC_ALERT_WEBHOOK_URL:-}` | Slack-compatible incoming webhook (JSON `{"text": ...}`); empty: no alerts |
| `alerts.min_interval` | interval | `15 minutes` | at most one alert per condition (query failure, a failed connector or task, dead letters) per interval |
| `alerts.connect_url` | string | `http://${CDC_CONNECT_HOST:-127.0.0.1}:${CDC_CONNECT_PORT:-8083}` | Kafka Connect REST API the job watches for FAILED connectors and tasks; empty: not watched |
| `alerts.check_interval` | interval | `30 seconds` | how often the job asks Kafka Connect |
| `maintenance.interval` | interval | `1 hour` | scheduled mode (`make compact-schedule`): time from the start of one run to the next |
| `maintenance.min_input_files` | int > 0 | `5` | rewrite data files / position-delete files only in groups of at least this many small files |
| `maintenance.delete_file_threshold` | int > 0 | `3` | also rewrite a data file that has at least this many delete files |
| `maintenance.expire_older_than` | interval | `7 days` | expire snapshots older than this ... |
| `maintenance.retain_last` | int > 0 | `10` | ... but always keep this many of the newest snapshots |
| `maintenance.orphan_older_than` | interval >= 24 hours | `3 days` | remove files no snapshot references, if older than this (younger ones may be in-flight writes) |
| `mysql.host` | string | `${CDC_MYSQL_HOST:-127.0.0.1}` | source MySQL host; read only by `make verify` (the job reads Kafka) |
| `mysql.port` | int 1..65535 | `${CDC_MYSQL_PORT:-3307}` | source MySQL port |
| `mysql.user` | string | `${CDC_MYSQL_USER:-debezium}` | MySQL user with SELECT on the source tables (each table's database is the `<db>` of its topic) |
| `mysql.password` | string | `${CDC_MYSQL_PASSWORD:-dbz}` | MySQL password |

Sections `source` and `tables` are required; `iceberg`, `postgres`, `job`, `alerts`, `maintenance`, `mysql` may be left out.
An interval is `<n> <unit>` with unit millisecond(s), second(s), minute(s), hour(s) or day(s).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import ConfigError


class _Special:
    """A default that is not a value: shown as its text in the table above."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = _Special("(required)")
FROM_TOPIC = _Special("(table part of the topic)")

# Every key with its default, in one place (the docstring table is checked against this by the tests).
DEFAULTS: dict[str, Any] = {
    "source.format": "kafka",
    "source.bootstrap_servers": "${CDC_KAFKA_BOOTSTRAP:-127.0.0.1:9092}",
    "source.topics": None,
    "source.topic_pattern": None,
    "source.starting_offsets": "earliest",
    "source.max_offsets_per_trigger": 100000,
    "source.trigger_interval": "2 seconds",
    "source.fail_on_data_loss": True,
    "source.kafka_options": {},
    "tables[].topic": REQUIRED,
    "tables[].name": FROM_TOPIC,
    "tables[].key_columns": REQUIRED,
    "tables[].sinks": ["iceberg", "postgres"],
    "tables[].stats.kind": REQUIRED,
    "tables[].stats.table": "user_account_stats",
    "tables[].stats.group_by": REQUIRED,
    "tables[].stats.sum_column": REQUIRED,
    "tables[].stats.opened_at_column": None,
    "iceberg.catalog_name": "lake",
    "iceberg.namespace": "cdc",
    "iceberg.catalog_uri": "jdbc:postgresql://${CDC_PG_HOST:-127.0.0.1}:${CDC_PG_PORT:-5432}/${CDC_PG_CATALOG_DATABASE:-iceberg_catalog}",
    "iceberg.catalog_user": "${CDC_PG_USER:-dwuser}",
    "iceberg.catalog_password": "${CDC_PG_PASSWORD:-dwpassword}",
    "iceberg.warehouse": "s3://${CDC_S3_BUCKET:-lakehouse}/warehouse",
    "iceberg.s3_endpoint": "${CDC_S3_ENDPOINT:-http://127.0.0.1:8333}",
    "iceberg.s3_access_key": "${CDC_S3_ACCESS_KEY:-cdcadmin}",
    "iceberg.s3_secret_key": "${CDC_S3_SECRET_KEY:-cdcsecret}",
    "iceberg.s3_region": "${CDC_S3_REGION:-us-east-1}",
    "iceberg.write_mode": "merge-on-read",
    "iceberg.target_file_size_bytes": 134217728,
    "iceberg.commit_conflict_retries": 5,
    "postgres.host": "${CDC_PG_HOST:-127.0.0.1}",
    "postgres.port": "${CDC_PG_PORT:-5432}",
    "postgres.database": "${CDC_PG_DATABASE:-bankdw}",
    "postgres.user": "${CDC_PG_USER:-dwuser}",
    "postgres.password": "${CDC_PG_PASSWORD:-dwpassword}",
    "postgres.schema": "public",
    "postgres.batch_table": "cdc_batches",
    "postgres.dead_letter_table": "cdc_dead_letters",
    "job.query_name": "cdc-to-lakehouse-and-warehouse",
    "job.checkpoint_location": "${CDC_STATE_DIR:-./.stack}/checkpoints/cdc",
    "job.dead_letter_alert_threshold": None,
    "job.status_file": "${CDC_STATE_DIR:-./.stack}/run/cdc-stream.status.json",
    "job.max_restarts": 10,
    "job.restart_backoff_initial": "5 seconds",
    "job.restart_backoff_max": "5 minutes",
    "alerts.webhook_url": "${CDC_ALERT_WEBHOOK_URL:-}",
    "alerts.min_interval": "15 minutes",
    "alerts.connect_url": "http://${CDC_CONNECT_HOST:-127.0.0.1}:${CDC_CONNECT_PORT:-8083}",
    "alerts.check_interval": "30 seconds",
    "maintenance.interval": "1 hour",
    "maintenance.min_input_files": 5,
    "maintenance.delete_file_threshold": 3,
    "maintenance.expire_older_than": "7 days",
    "maintenance.retain_last": 10,
    "maintenance.orphan_older_than": "3 days",
    "mysql.host": "${CDC_MYSQL_HOST:-127.0.0.1}",
    "mysql.port": "${CDC_MYSQL_PORT:-3307}",
    "mysql.user": "${CDC_MYSQL_USER:-debezium}",
    "mysql.password": "${CDC_MYSQL_PASSWORD:-dbz}",
}

SOURCE_FORMATS = ("kafka",)
SINKS = ("iceberg", "postgres")
STATS_KINDS = ("user_account_stats",)
WRITE_MODES = ("merge-on-read", "copy-on-write")
TOP_LEVEL = ("source", "tables", "iceberg", "postgres", "job", "alerts", "maintenance", "mysql")

# PostgreSQL truncates identifiers at 63 bytes; the longest suffix we add is "_history" / "_current".
MAX_TABLE_NAME = 63 - len("_history")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$", re.ASCII)
_INTERVAL = re.compile(r"^\s*([0-9]+)\s+(millisecond|second|minute|hour|day)s?\s*$", re.ASCII | re.IGNORECASE)
_INTERVAL_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
INTERVAL_FORMAT = "'<n> <millisecond(s)|second(s)|minute(s)|hour(s)|day(s)>'"


def interval_ms(text: str) -> int:
    """Milliseconds of an interval string that passed validation (`2 seconds`, `7 days`)."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(f"expected {INTERVAL_FORMAT}, got {text!r}")
    return int(match.group(1)) * _INTERVAL_MS[match.group(2).lower()]
_REFERENCE = re.compile(r"(\$\$\{)|\$\{([^}]*)\}|(\$\{)")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.ASCII | re.DOTALL)


# --- the typed configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    format: str
    bootstrap_servers: str
    topics: tuple[str, ...] | None
    topic_pattern: str | None
    starting_offsets: str
    max_offsets_per_trigger: int
    trigger_interval: str
    fail_on_data_loss: bool
    kafka_options: Mapping[str, str]

    @property
    def trigger_interval_ms(self) -> int:
        return interval_ms(self.trigger_interval)

    def subscribes_to(self, topic: str) -> bool:
        if self.topics is not None:
            return topic in self.topics
        return re.fullmatch(self.topic_pattern, topic) is not None

    def reader_options(self) -> dict[str, str]:
        """Options for `spark.readStream.format(self.format).options(...)`, in Spark Kafka source names."""
        options = {"kafka.bootstrap.servers": self.bootstrap_servers}
        if self.topics is not None:
            options["subscribe"] = ",".join(self.topics)
        else:
            options["subscribePattern"] = self.topic_pattern
        options["startingOffsets"] = self.starting_offsets
        options["maxOffsetsPerTrigger"] = str(self.max_offsets_per_trigger)
        options["failOnDataLoss"] = "true" if self.fail_on_data_loss else "false"
        options.update(self.kafka_options)
        return options


@dataclass(frozen=True)
class StatsConfig:
    kind: str
    table: str
    group_by: str
    sum_column: str
    opened_at_column: str | None = None


@dataclass(frozen=True)
class TableConfig:
    topic: str
    name: str
    key_columns: tuple[str, ...]  # empty only for a topic matched by source.topic_pattern without an entry
    sinks: tuple[str, ...] = SINKS
    stats: StatsConfig | None = None

    @property
    def history_table(self) -> str:
        return f"{self.name}_history"

    @property
    def current_table(self) -> str:
        return f"{self.name}_current"

    @property
    def decode_key_columns(self) -> tuple[str, ...] | None:
        """What to pass as `debezium.decode_record(key_columns=...)`: None means "use the Kafka key"."""
        return self.key_columns or None


@dataclass(frozen=True)
class IcebergConfig:
    catalog_name: str
    namespace: str
    catalog_uri: str
    catalog_user: str
    catalog_password: str = field(repr=False)
    warehouse: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    s3_region: str = "us-east-1"
    write_mode: str = "merge-on-read"
    target_file_size_bytes: int = 134217728
    commit_conflict_retries: int = 5

    def spark_conf(self) -> dict[str, str]:
        """`spark.sql.catalog.<catalog_name>.*` settings for the JDBC catalog with S3FileIO."""
        prefix = f"spark.sql.catalog.{self.catalog_name}"
        return {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
            f"{prefix}.uri": self.catalog_uri,
            f"{prefix}.jdbc.user": self.catalog_user,
            f"{prefix}.jdbc.password": self.catalog_password,
            # V1 catalog tables support views; with V0 a lookup of a missing table fails with
            # UnsupportedOperationException instead of "table not found".
            f"{prefix}.jdbc.schema-version": "V1",
            f"{prefix}.warehouse": self.warehouse,
            f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            f"{prefix}.s3.endpoint": self.s3_endpoint,
            f"{prefix}.s3.path-style-access": "true",
            f"{prefix}.s3.access-key-id": self.s3_access_key,
            f"{prefix}.s3.secret-access-key": self.s3_secret_key,
            f"{prefix}.client.region": self.s3_region,
            f"{prefix}.cache-enabled": "false",
        }

    def table_properties(self) -> dict[str, str]:
        """TBLPROPERTIES for the tables the job creates."""
        return {
            "format-version": "2",
            "write.delete.mode": self.write_mode,
            "write.update.mode": self.write_mode,
            "write.merge.mode": self.write_mode,
            "write.target-file-size-bytes": str(self.target_file_size_bytes),
        }


@dataclass(frozen=True)
class PostgresConfig:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    schema: str = "public"
    batch_table: str = "cdc_batches"
    dead_letter_table: str = "cdc_dead_letters"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for psycopg2.connect."""
        return {"host": self.host, "port": self.port, "dbname": self.database, "user": self.user, "password": self.password}


@dataclass(frozen=True)
class JobConfig:
    query_name: str
    checkpoint_location: str
    dead_letter_alert_threshold: int | None = None
    status_file: str = "./.stack/run/cdc-stream.status.json"
    max_restarts: int = 10
    restart_backoff_initial_ms: int = 5_000
    restart_backoff_max_ms: int = 300_000


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = None  # None: alerts are only logged
    min_interval_ms: int = 900_000
    connect_url: str | None = None  # None: connectors are not watched
    check_interval_ms: int = 30_000


@dataclass(frozen=True)
class MaintenanceConfig:
    """What the compaction job (jobs/compact.py) does to every Iceberg table; intervals in ms."""
    interval_ms: int = 3_600_000
    min_input_files: int = 5
    delete_file_threshold: int = 3
    expire_older_than_ms: int = 7 * 86_400_000
    retain_last: int = 10
    orphan_older_than_ms: int = 3 * 86_400_000


@dataclass(frozen=True)
class MysqlConfig:
    """The source database, read by the consistency check (`make verify`); the job never connects to it."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for pymysql.connect (no default database: tables are named `<db>`.`<table>`)."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password}


@dataclass(frozen=True)
class PipelineConfig:
    source: SourceConfig
    tables: tuple[TableConfig, ...]
    iceberg: IcebergConfig
    postgres: PostgresConfig
    job: JobConfig
    mysql: MysqlConfig
    maintenance: MaintenanceConfig = MaintenanceConfig()
    alerts: AlertsConfig = AlertsConfig()

    def table_for_topic(self, topic: str) -> TableConfig:
        """The table configured for `topic`.

        A subscribed topic without a `tables` entry (one that appeared under `source.topic_pattern`, or
        is listed in `source.topics` only) gets the defaults: name = table part of the topic, key from
        the Kafka key (`key_columns` empty), both sinks, no stats. Raises ConfigError for a topic the
        source does not subscribe to, or whose default name clashes with a configured table.
        """
        for table in self.tables:
            if table.topic == topic:
                return table
        if not self.source.subscribes_to(topic):
            raise ConfigError(f"topic {topic!r} is not subscribed by source.topics / source.topic_pattern")
        name = _name_from_topic(topic)
        if not _IDENTIFIER.fullmatch(name) or len(name) > MAX_TABLE_NAME:
            raise ConfigError(
                f"topic {topic!r} has no tables entry and its table part {name!r} is not a usable sink name; "
                "add a tables entry with a name"
            )
        for table in self.tables:
            if table.name == name:
                raise ConfigError(
                    f"topic {topic!r} has no tables entry and its default name {name!r} is already used by "
                    f"{table.topic!r}; add a tables entry with another name"
                )
        return TableConfig(topic=topic, name=name, key_columns=())


# --- loading ------------------------------------------------------------------------------------------


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read, interpolate and validate the YAML file; raises ConfigError naming the key and bad value."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read configuration file {str(path)!r}: {err.strerror or err}") from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if document is None:
        raise ConfigError(f"{path}: the file is empty; expected the sections {', '.join(TOP_LEVEL)}")
    reader = _Reader(environ)
    return reader.pipeline(document)


def _name_from_topic(topic: str) -> str:
    return topic.rsplit(".", 1)[-1]


class _Reader:
    """Turns the YAML document into dataclasses; every check knows its key path."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    # -- generic helpers

    def section(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        label = path or "the configuration file"
        if not isinstance(value, dict):
            raise ConfigError(f"{label}: expected a mapping with keys {', '.join(allowed)}, got {value!r}")
        for key in value:
            if not isinstance(key, str):
                raise ConfigError(f"{label}: keys must be strings, got {key!r}; allowed keys: {', '.join(allowed)}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            where = f"{path}." if path else ""
            raise ConfigError(
                f"{where}{unknown[0]}: unknown key; allowed keys{' in ' + path if path else ''}: {', '.join(allowed)}"
            )
        return value

    def interpolate(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match) -> str:
            if match.group(1):
                return "${"
            if match.group(3):
                raise ConfigError(f"{path}: unclosed '${{' in {value!r}")
            reference = _VARIABLE.fullmatch(match.group(2))
            if reference is None:
                raise ConfigError(
                    f"{path}: bad variable reference '${{{match.group(2)}}}' in {value!r}; "
                    "expected ${NAME} or ${NAME:-default}"
                )
            name, default = reference.group(1), reference.group(2)
            found = self.environ.get(name)
            if found is not None and (found != "" or default is None):
                return found
            if default is not None:
                return default
            raise ConfigError(
                f"{path}: environment variable {name} is not set and '${{{name}}}' has no default "
                f"(set {name}, or write ${{{name}:-value}})"
            )

        return _REFERENCE.sub(replace, value)

    def get(self, section: dict, path: str, key: str, default_key: str | None = None) -> Any:
        """The interpolated value of `key`, or its interpolated default."""
        full = f"{path}.{key}"
        if key in section and section[key] is not None:
            raw = section[key]
        else:
            raw = DEFAULTS[default_key or full]
            if raw is REQUIRED:
                raise ConfigError(f"{full}: required key is missing")
        return self.interpolate(raw, full)

    def string(self, section: dict, path: str, key: str, default_key: str | None = None, *, choices=None, pattern=None, what=None) -> str | None:
        value = self.get(section, path, key, default_key)
        full = f"{path}.{key}"
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{full}: expected {what or 'a string'}, got {value!r}")
        value = str(value)
        if choices is not None and value not in choices:
            raise ConfigError(f"{full}: expected one of {', '.join(choices)}, got {value!r}")
        if value == "":
            raise ConfigError(f"{full}: expected {what or 'a non-empty string'}, got ''")
        if pattern is not None and not pattern.fullmatch(value):
            raise ConfigError(f"{full}: expected {what}, got {value!r}")
        return value

    def identifier(self, section: dict, path: str, key: str, default_key: str | None = None) -> str:
        return self.string(section, path, key, default_key, pattern=_IDENTIFIER, what="an identifier (letters, digits, _; not starting with a digit)")

    def integer(self, section: dict, path: str, key: str, *, minimum: int = 1, maximum: int | None = None, what: str = "a positive integer") -> int | None:
        value = self.get(section, path, key)
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
            raise ConfigError(f"{path}.{key}: expected {what}, got {value!r}")
        return value

    def interval(self, section: dict, path: str, key: str) -> int:
        """An interval string, returned in milliseconds."""
        value = self.get(section, path, key)
        if not isinstance(value, str) or not _INTERVAL.fullmatch(value):
            raise ConfigError(f"{path}.{key}: expected {INTERVAL_FORMAT} like '2 seconds', got {value!r}")
        return interval_ms(value)

    def boolean(self, section: dict, path: str, key: str) -> bool:
        value = self.get(section, path, key)
        if isinstance(value, str):
            value = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}.get(value.strip().lower(), value)
        if not isinstance(value, bool):
            raise ConfigError(f"{path}.{key}: expected true or false, got {value!r}")
        return value

    def string_list(self, section: dict, path: str, key: str, default_key: str | None = None, *, choices=None) -> tuple[str, ...] | None:
        value = self.get(section, path, key, default_key)
        full = f"{path}.{key}"
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{full}: expected a non-empty list of strings, got {value!r}")
        items = []
        for index, item in enumerate(value):
            item = self.interpolate(item, f"{full}[{index}]")
            if not isinstance(item, str) or not item:
                raise ConfigError(f"{full}[{index}]: expected a non-empty string, got {item!r}")
            if choices is not None and item not in choices:
                raise ConfigError(f"{full}[{index}]: expected one of {', '.join(choices)}, got {item!r}")
            if item in items:
                raise ConfigError(f"{full}[{index}]: duplicate entry {item!r}")
            items.append(item)
        return tuple(items)

    # -- sections

    def pipeline(self, document: Any) -> PipelineConfig:
        document = self.section(document, "", TOP_LEVEL)
        for name in ("source", "tables"):
            if document.get(name) is None:
                raise ConfigError(f"{name}: required section is missing")
        source = self.source(document["source"])
        tables = self.tables(document["tables"], source)
        postgres = self.postgres(document.get("postgres"))
        config = PipelineConfig(
            source=source,
            tables=tables,
            iceberg=self.iceberg(document.get("iceberg")),
            postgres=postgres,
            job=self.job(document.get("job")),
            mysql=self.mysql(document.get("mysql")),
            maintenance=self.maintenance(document.get("maintenance")),
            alerts=self.alerts(document.get("alerts")),
        )
        self.check_relation_names(config)
        return config

    def source(self, raw: Any) -> SourceConfig:
        path = "source"
        section = self.section(raw, path, _keys(path))
        topics = self.string_list(section, path, "topics")
        pattern = self.string(section, path, "topic_pattern")
        if (topics is None) == (pattern is None):
            got = "both" if topics is not None else "neither"
            raise ConfigError(f"source: set exactly one of source.topics, source.topic_pattern; got {got}")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ConfigError(f"source.topic_pattern: expected a regular expression, got {pattern!r} ({err})") from err
        servers = self.string(section, path, "bootstrap_servers")
        for server in servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"source.bootstrap_servers: expected host:port[,host:port...], got {servers!r}")
        interval = self.string(section, path, "trigger_interval")
        self.interval(section, path, "trigger_interval")
        return SourceConfig(
            format=self.string(section, path, "format", choices=SOURCE_FORMATS),
            bootstrap_servers=servers,
            topics=topics,
            topic_pattern=pattern,
            starting_offsets=self.starting_offsets(section),
            max_offsets_per_trigger=self.integer(section, path, "max_offsets_per_trigger"),
            trigger_interval=interval,
            fail_on_data_loss=self.boolean(section, path, "fail_on_data_loss"),
            kafka_options=self.kafka_options(section),
        )

    def starting_offsets(self, section: dict) -> str:
        full = "source.starting_offsets"
        value = self.get(section, "source", "starting_offsets")
        expected = 'earliest, latest, or JSON like {"topic": {"0": 23}}'
        if isinstance(value, dict):
            offsets = value
        elif isinstance(value, str) and value in ("earliest", "latest"):
            return value
        elif isinstance(value, str):
            try:
                offsets = json.loads(value)
            except ValueError:
                raise ConfigError(f"{full}: expected {expected}, got {value!r}") from None
        else:
            raise ConfigError(f"{full}: expected {expected}, got {value!r}")
        valid = isinstance(offsets, dict) and offsets and all(
            isinstance(topic, str)
            and isinstance(partitions, dict)
            and partitions
            and all(
                str(p).isdigit() and isinstance(o, int) and not isinstance(o, bool) and o >= -2
                for p, o in partitions.items()
            )
            for topic, partitions in offsets.items()
        )
        if not valid:
            raise ConfigError(f"{full}: expected {expected} (offsets >= -2), got {value!r}")
        return json.dumps({t: {str(p): o for p, o in ps.items()} for t, ps in offsets.items()}, separators=(",", ":"))

    def kafka_options(self, section: dict) -> Mapping[str, str]:
        full = "source.kafka_options"
        value = self.get(section, "source", "kafka_options")
        if not isinstance(value, dict):
            raise ConfigError(f"{full}: expected a mapping of kafka.* options, got {value!r}")
        options = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.startswith("kafka.") or key == "kafka.":
                raise ConfigError(f"{full}: option names must start with 'kafka.', got {key!r}")
            if key == "kafka.bootstrap.servers":
                raise ConfigError(f"{full}.{key}: set source.bootstrap_servers instead")
            item = self.interpolate(item, f"{full}.{key}")
            if isinstance(item, bool):
                item = "true" if item else "false"
            if item is None or not isinstance(item, (str, int, float)):
                raise ConfigError(f"{full}.{key}: expected a string or number, got {item!r}")
            options[key] = str(item)
        return MappingProxyType(options)

    def tables(self, raw: Any, source: SourceConfig) -> tuple[TableConfig, ...]:
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"tables: expected a non-empty list of tables, got {raw!r}")
        tables: list[TableConfig] = []
        for index, entry in enumerate(raw):
            path = f"tables[{index}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: expected a mapping with keys {', '.join(_keys('tables[]'))}, got {entry!r}")
            section = self.section(entry, path, _keys("tables[]"))
            topic = self.string(section, path, "topic", "tables[].topic")
            if not source.subscribes_to(topic):
                raise ConfigError(f"{path}.topic: {topic!r} is not subscribed by source.topics / source.topic_pattern")
            if "name" in section and section["name"] is not None:
                name = self.identifier(section, path, "name", "tables[].name")
            else:
                name = _name_from_topic(topic)
                if not _IDENTIFIER.fullmatch(name):
                    raise ConfigError(f"{path}.name: the table part of topic {topic!r} is {name!r}, not an identifier; set name")
            if len(name) > MAX_TABLE_NAME:
                raise ConfigError(f"{path}.name: expected at most {MAX_TABLE_NAME} characters (PostgreSQL truncates longer names), got {name!r}")
            key_columns = self.string_list(section, path, "key_columns", "tables[].key_columns")
            sinks = self.string_list(section, path, "sinks", "tables[].sinks", choices=SINKS)
            stats = self.stats(section.get("stats"), f"{path}.stats")
            if stats is not None and "postgres" not in sinks:
                raise ConfigError(f"{path}.stats: statistics live in PostgreSQL, but {path}.sinks is {list(sinks)}")
            for other in tables:
                if other.topic == topic:
                    raise ConfigError(f"{path}.topic: {topic!r} is configured twice")
                if other.name == name:
                    raise ConfigError(f"{path}.name: {name!r} is already the name of the table for {other.topic!r}")
            tables.append(TableConfig(topic=topic, name=name, key_columns=key_columns, sinks=sinks, stats=stats))
        return tuple(tables)

    def stats(self, raw: Any, path: str) -> StatsConfig | None:
        if raw is None:
            return None
        section = self.section(raw, path, _keys("tables[].stats"))
        d = "tables[].stats."
        stats = StatsConfig(
            kind=self.string(section, path, "kind", d + "kind", choices=STATS_KINDS),
            table=self.identifier(section, path, "table", d + "table"),
            group_by=self.string(section, path, "group_by", d + "group_by"),
            sum_column=self.string(section, path, "sum_column", d + "sum_column"),
            opened_at_column=self.string(section, path, "opened_at_column", d + "opened_at_column"),
        )
        return stats

    def iceberg(self, raw: Any) -> IcebergConfig:
        path = "iceberg"
        s = self.section(raw, path, _keys(path))
        uri = self.string(s, path, "catalog_uri")
        if not uri.startswith("jdbc:"):
            raise ConfigError(f"iceberg.catalog_uri: expected a JDBC URL like jdbc:postgresql://host:port/db, got {uri!r}")
        warehouse = self.string(s, path, "warehouse")
        if "://" not in warehouse:
            raise ConfigError(f"iceberg.warehouse: expected a URI like s3://bucket/warehouse, got {warehouse!r}")
        endpoint = self.string(s, path, "s3_endpoint")
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"iceberg.s3_endpoint: expected an http:// or https:// URL, got {endpoint!r}")
        return IcebergConfig(
            catalog_name=self.identifier(s, path, "catalog_name"),
            namespace=self.identifier(s, path, "namespace"),
            catalog_uri=uri,
            catalog_user=self.string(s, path, "catalog_user"),
            catalog_password=self.string(s, path, "catalog_password"),
            warehouse=warehouse,
            s3_endpoint=endpoint,
            s3_access_key=self.string(s, path, "s3_access_key"),
            s3_secret_key=self.string(s, path, "s3_secret_key"),
            s3_region=self.string(s, path, "s3_region"),
            write_mode=self.string(s, path, "write_mode", choices=WRITE_MODES),
            target_file_size_bytes=self.integer(s, path, "target_file_size_bytes"),
            commit_conflict_retries=self.integer(s, path, "commit_conflict_retries", minimum=0, what="an integer >= 0"),
        )

    def postgres(self, raw: Any) -> PostgresConfig:
        path = "postgres"
        s = self.section(raw, path, _keys(path))
        return PostgresConfig(
            host=self.string(s, path, "host"),
            port=self.integer(s, path, "port", maximum=65535, what="a port number 1..65535"),
            database=self.string(s, path, "database"),
            user=self.string(s, path, "user"),
            password=self.string(s, path, "password"),
            schema=self.identifier(s, path, "schema"),
            batch_table=self.identifier(s, path, "batch_table"),
            dead_letter_table=self.identifier(s, path, "dead_letter_table"),
        )

    def job(self, raw: Any) -> JobConfig:
        path = "job"
        s = self.section(raw, path, _keys(path))
        return JobConfig(
            query_name=self.string(s, path, "query_name"),
            checkpoint_location=self.string(s, path, "checkpoint_location"),
            dead_letter_alert_threshold=self.integer(s, path, "dead_letter_alert_threshold"),
            status_file=self.string(s, path, "status_file"),
            max_restarts=self.integer(s, path, "max_restarts", minimum=0, what="an integer >= 0"),
            restart_backoff_initial_ms=self.interval(s, path, "restart_backoff_initial"),
            restart_backoff_max_ms=self.interval(s, path, "restart_backoff_max"),
        )

    def alerts(self, raw: Any) -> AlertsConfig:
        path = "alerts"
        s = self.section(raw, path, _keys(path))
        urls = {}
        for key in ("webhook_url", "connect_url"):
            value = self.get(s, path, key)
            if value in (None, ""):
                urls[key] = None
            elif not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ConfigError(f"alerts.{key}: expected an http:// or https:// URL or empty, got {value!r}")
            else:
                urls[key] = value.rstrip("/")
        check = self.interval(s, path, "check_interval")
        if check < 1000:
            raise ConfigError(f"alerts.check_interval: expected at least 1 second, got {self.get(s, path, 'check_interval')!r}")
        return AlertsConfig(webhook_url=urls["webhook_url"], min_interval_ms=self.interval(s, path, "min_interval"),
                            connect_url=urls["connect_url"], check_interval_ms=check)

    def maintenance(self, raw: Any) -> MaintenanceConfig:
        path = "maintenance"
        s = self.section(raw, path, _keys(path))
        interval = self.interval(s, path, "interval")
        if interval == 0:
            raise ConfigError(f"maintenance.interval: expected a positive interval, got {self.get(s, path, 'interval')!r}")
        orphans = self.interval(s, path, "orphan_older_than")
        if orphans < 86_400_000:
            raise ConfigError(
                f"maintenance.orphan_older_than: expected at least 24 hours (a younger unreferenced file may be a "
                f"commit in flight; Iceberg refuses less), got {self.get(s, path, 'orphan_older_than')!r}")
        return MaintenanceConfig(
            interval_ms=interval,
            min_input_files=self.integer(s, path, "min_input_files"),
            delete_file_threshold=self.integer(s, path, "delete_file_threshold"),
            expire_older_than_ms=self.interval(s, path, "expire_older_than"),
            retain_last=self.integer(s, path, "retain_last"),
            orphan_older_than_ms=orphans,
        )

    def mysql(self, raw: Any) -> MysqlConfig:
        path = "mysql"
        s = self.section(raw, path, _keys(path))
        return MysqlConfig(
            host=self.string(s, path, "host"),
            port=self.integer(s, path, "port", maximum=65535, what="a port number 1..65535"),
            user=self.string(s, path, "user"),
            password=self.string(s, path, "password"),
        )

    def check_relation_names(self, config: PipelineConfig) -> None:
        """No two things may end up as the same PostgreSQL table."""
        owners: dict[str, str] = {
            config.postgres.batch_table: "postgres.batch_table",
            config.postgres.dead_letter_table: "postgres.dead_letter_table",
        }
        if config.postgres.batch_table == config.postgres.dead_letter_table:
            raise ConfigError(f"postgres.dead_letter_table: {config.postgres.dead_letter_table!r} is also postgres.batch_table")
        for index, table in enumerate(config.tables):
            names = [(table.history_table, f"tables[{index}].name"), (table.current_table, f"tables[{index}].name")]
            if table.stats is not None:
                names.append((table.stats.table, f"tables[{index}].stats.table"))
            for name, key in names:
                if name in owners:
                    raise ConfigError(f"{key}: PostgreSQL table {name!r} would also be used by {owners[name]}")
                owners[name] = key


def _keys(section: str) -> tuple[str, ...]:
    prefix = section + "."
    keys = []
    for full in DEFAULTS:
        if full.startswith(prefix):
            rest = full[len(prefix):]
            head = rest.split(".", 1)[0]
            if head not in keys:
                keys.append(head)
    return tuple(keys)
