"""Pipeline configuration: one YAML file (`conf/pipeline.yaml`), loaded once (config_loader.load_config)
into the frozen dataclasses below; the running job re-reads its `tables:` when the file changes
(config_loader.LiveConfig: make add-table / remove-table).

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
| `source.trigger_interval` | interval | `1 second` | processing-time trigger of both paths (the Iceberg path skips triggers until its commit is due) |
| `source.max_record_bytes` | int > 0 | `16777216` | a Kafka record whose value is larger (bytes) is not decoded: it goes to the dead letters as `record_too_large`, with its bytes and size |
| `source.fail_on_data_loss` | bool | `true` | fail when offsets vanished (retention, topic re-created) instead of skipping them |
| `source.kafka_options` | map string -> string | `{}` | extra `kafka.*` consumer options passed to the source (over the job's own defaults, `SourceConfig.CONSUMER_DEFAULTS`) |
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
| `iceberg.commit_interval` | interval | `30 seconds` | the Iceberg path commits once `source.max_offsets_per_trigger` records wait, else once this passed since its last batch (a backlog drains back-to-back); the PostgreSQL path runs every `source.trigger_interval` |
| `iceberg.commit_conflict_retries` | int >= 0 | `5` | how often a commit that lost a race with another writer (the stream vs compaction) is retried, with backoff |
| `postgres.host` | string | `${CDC_PG_HOST:-127.0.0.1}` | warehouse host |
| `postgres.port` | int 1..65535 | `${CDC_PG_PORT:-5432}` | warehouse port |
| `postgres.database` | string | `${CDC_PG_DATABASE:-bankdw}` | warehouse database |
| `postgres.user` | string | `${CDC_PG_USER:-dwuser}` | warehouse user |
| `postgres.password` | string | `${CDC_PG_PASSWORD:-dwpassword}` | warehouse password |
| `postgres.schema` | identifier | `public` | schema of the warehouse tables |
| `postgres.batch_table` | identifier | `cdc_batches` | progress table: one row per applied micro-batch |
| `postgres.dead_letter_table` | identifier | `cdc_dead_letters` | undecodable records with the reason |
| `job.query_name` | string | `cdc-to-lakehouse-and-warehouse` | Spark application name; the paths' streaming queries are `<query_name>.postgres` and `<query_name>.iceberg` |
| `job.checkpoint_location` | string | `${CDC_STATE_DIR:-./.stack}/checkpoints/cdc` | Spark checkpoints, one per path: `<checkpoint_location>/postgres`, `<checkpoint_location>/iceberg` (relative to the working directory) |
| `job.dead_letter_alert_threshold` | int > 0 | null | dead letters in one micro-batch at or above which the job logs an ERROR and alerts; null: never |
| `job.status_file` | string | `${CDC_STATE_DIR:-./.stack}/run/cdc-stream.status.json` | where the job keeps its state (running, restarting, permanently failed, last batch, last error) for `make status` |
| `job.max_restarts` | int >= 0 | `10` | restarts of a failed query (from its checkpoint) in a row before the job gives up: permanently failed |
| `job.restart_backoff_initial` | interval | `5 seconds` | wait before the first restart; doubles with each failure in a row |
| `job.restart_backoff_max` | interval | `5 minutes` | longest wait between restarts |
| `job.metrics_host` | string | `${CDC_METRICS_HOST:-127.0.0.1}` | address of the job's Prometheus endpoint |
| `job.metrics_port` | int >= 0 | `${CDC_METRICS_PORT:-9464}` | port of the job's Prometheus endpoint (`/metrics`, per query: last batch, its age and seconds per step, rows, offsets behind per topic, changes per op, dead letters, starts, up); 0: none |
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
| `transactions.consistent` | bool | `true` | apply whole MySQL transactions only (Debezium's transaction metadata, `provide.transaction.metadata`): a batch holds back a transaction until its END and all its events are read (README: Transactions); `false`: apply at offset boundaries |
| `transactions.topic` | string | (<prefix>.transaction: the first table's topic prefix) | Debezium's transaction topic, read with the tables' topics |
| `transactions.release_after` | interval | `1 minute` | a transaction still incomplete when the stream (the newest Kafka timestamp read) is this far past its first record (its END or an event never came) is applied as it is, with an alert |
| `transactions.max_held_records` | int > 0 | `200000` | the records held back (re-read by the next batch) never exceed this: over it, the held transactions are applied as they are, with an alert |
| `mysql.host` | string | `${CDC_MYSQL_HOST:-127.0.0.1}` | source MySQL host; read only by `make verify` (the job reads Kafka) |
| `mysql.port` | int 1..65535 | `${CDC_MYSQL_PORT:-3307}` | source MySQL port |
| `mysql.user` | string | `${CDC_MYSQL_USER:-debezium}` | MySQL user with SELECT on the source tables (each table's database is the `<db>` of its topic) |
| `mysql.password` | string | `${CDC_MYSQL_PASSWORD:-dbz}` | MySQL password |

Sections `source` and `tables` are required; `iceberg`, `postgres`, `job`, `alerts`, `maintenance`, `mysql`, `transactions` may be left out.
An interval is `<n> <unit>` with unit millisecond(s), second(s), minute(s), hour(s) or day(s).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import ConfigError


class _Special:
    """A default that is not a value: shown as its text in the table above."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = _Special("(required)")
FROM_TOPIC = _Special("(table part of the topic)")
FROM_PREFIX = _Special("(<prefix>.transaction: the first table's topic prefix)")

# Every key with its default, in one place (the docstring table is checked against this by the tests).
DEFAULTS: dict[str, Any] = {
    "source.format": "kafka",
    "source.bootstrap_servers": "${CDC_KAFKA_BOOTSTRAP:-127.0.0.1:9092}",
    "source.topics": None,
    "source.topic_pattern": None,
    "source.starting_offsets": "earliest",
    "source.max_offsets_per_trigger": 100000,
    "source.trigger_interval": "1 second",
    "source.max_record_bytes": 16 * 1024 * 1024,
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
    "iceberg.commit_interval": "30 seconds",
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
    "job.metrics_host": "${CDC_METRICS_HOST:-127.0.0.1}",
    "job.metrics_port": "${CDC_METRICS_PORT:-9464}",
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
    "transactions.consistent": True,
    "transactions.topic": FROM_PREFIX,
    "transactions.release_after": "1 minute",
    "transactions.max_held_records": 200000,
    "mysql.host": "${CDC_MYSQL_HOST:-127.0.0.1}",
    "mysql.port": "${CDC_MYSQL_PORT:-3307}",
    "mysql.user": "${CDC_MYSQL_USER:-debezium}",
    "mysql.password": "${CDC_MYSQL_PASSWORD:-dbz}",
}

SOURCE_FORMATS = ("kafka",)
SINKS = ("iceberg", "postgres")
STATS_KINDS = ("user_account_stats",)
WRITE_MODES = ("merge-on-read", "copy-on-write")
TOP_LEVEL = ("source", "tables", "iceberg", "postgres", "job", "alerts", "maintenance", "mysql", "transactions")

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
    max_record_bytes: int = 16 * 1024 * 1024

    # Under `kafka_options`. Measured: a batch read of 900 records from 9 partitions on 2 cores took
    # 2.85 s with the consumer's default fetch.max.wait.ms (500 ms) and 0.42 s with 10 ms - presumably
    # each partition's last fetch, at the log's end, waits for data the task will not read (README:
    # Benchmarks, the Kafka read of a small batch).
    CONSUMER_DEFAULTS = MappingProxyType({"kafka.fetch.max.wait.ms": "10"})

    @property
    def trigger_interval_ms(self) -> int:
        return interval_ms(self.trigger_interval)

    @property
    def consumer_options(self) -> dict[str, str]:
        """The `kafka.*` options of every Kafka read: the job's defaults, then `kafka_options`."""
        return {**self.CONSUMER_DEFAULTS, **self.kafka_options}

    def subscribes_to(self, topic: str) -> bool:
        if self.topics is not None:
            return topic in self.topics
        return re.fullmatch(self.topic_pattern, topic) is not None

    def reader_options(self, also: tuple[str, ...] = ()) -> dict[str, str]:
        """Options for `spark.readStream.format(self.format).options(...)`, in Spark Kafka source names;
        `also`: topics read beside the configured ones (the transaction topic)."""
        options = {"kafka.bootstrap.servers": self.bootstrap_servers}
        if self.topics is not None:
            options["subscribe"] = ",".join([*self.topics, *[t for t in also if t not in self.topics]])
        else:
            extra = [re.escape(t) for t in also if not self.subscribes_to(t)]
            options["subscribePattern"] = "|".join([f"(?:{self.topic_pattern})", *extra]) if extra else self.topic_pattern
        options["startingOffsets"] = self.starting_offsets
        options["maxOffsetsPerTrigger"] = str(self.max_offsets_per_trigger)
        options["failOnDataLoss"] = "true" if self.fail_on_data_loss else "false"
        options.update(self.consumer_options)
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
    key_columns: tuple[str, ...]  # the Kafka key (Debezium: primary key or message.key.columns) must agree
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
    commit_interval: str = "30 seconds"
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
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464  # 0: no endpoint


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = field(default=None, repr=False)  # a credential; None: alerts are only logged
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
class TransactionsConfig:
    """Transaction-consistent apply (cdc_pipeline.transactions)."""
    consistent: bool = True
    topic: str | None = None  # None: no table to take the prefix from (then nothing is held)
    release_after_ms: int = 60_000
    max_held_records: int = 200_000


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
class SinkPath:
    """One of the job's streaming queries: it reads the source and writes one sink from its own
    checkpoint, so PostgreSQL never waits for an Iceberg commit (and the reverse)."""
    sink: str
    query_name: str
    checkpoint_location: str
    trigger_interval: str
    # Extra Kafka source options of this query (the Iceberg path's commit cadence).
    source_options: tuple[tuple[str, str], ...] = ()


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
    transactions: TransactionsConfig = TransactionsConfig()

    def reader_options(self) -> dict[str, str]:
        """The Kafka source's options: the tables' topics and the transaction topic, also when
        transaction-consistent apply is off (its records are then skipped): a topic that leaves the
        subscription of a running checkpoint fails the query (failOnDataLoss), so switching
        `transactions.consistent` must not change what the query reads."""
        tx = self.transactions
        return self.source.reader_options((tx.topic,) if tx.topic else ())

    @property
    def sink_paths(self) -> tuple[SinkPath, ...]:
        """The streaming queries the job runs: one per sink that some table writes (both under
        `source.topic_pattern`: tables added while the job runs write both), PostgreSQL first. Each
        checkpoints under `<job.checkpoint_location>/<sink>`."""
        used = {s for t in self.tables for s in t.sinks} | (set(SINKS) if self.source.topic_pattern else set())
        # Iceberg: a batch once max_offsets_per_trigger records wait, else once commit_interval passed
        # since the last one (the Kafka source's minOffsetsPerTrigger / maxTriggerDelay): few commits
        # when the stream is slow, back-to-back batches through a backlog.
        cadence = {"postgres": (), "iceberg": (
            ("minOffsetsPerTrigger", str(self.source.max_offsets_per_trigger)),
            ("maxTriggerDelay", f"{interval_ms(self.iceberg.commit_interval)}ms"))}
        return tuple(SinkPath(sink, f"{self.job.query_name}.{sink}",
                              f"{self.job.checkpoint_location.rstrip('/')}/{sink}", self.source.trigger_interval,
                              cadence[sink])
                     for sink in ("postgres", "iceberg") if sink in used)

def _name_from_topic(topic: str) -> str:
    return topic.rsplit(".", 1)[-1]
