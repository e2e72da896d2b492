"""Loading `conf/pipeline.yaml`: read the YAML, interpolate `${VAR}` / `${VAR:-default}` from the
environment, check every key and value, and build the frozen dataclasses of cdc_pipeline.config
(where every key, its type and default are listed). Errors name the key path and the bad value."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .config import (DEFAULTS, FROM_PREFIX, INTERVAL_FORMAT, MAX_TABLE_NAME, REQUIRED, SINKS, SOURCE_FORMATS,
                     STATS_KINDS, TOP_LEVEL, WRITE_MODES, _IDENTIFIER, _INTERVAL, AlertsConfig, IcebergConfig,
                     JobConfig, MaintenanceConfig, MysqlConfig, PipelineConfig, PostgresConfig, SourceConfig,
                     StatsConfig, TableConfig, TransactionsConfig, _name_from_topic, interval_ms)
from .debezium import TRANSACTION_TOPIC_SUFFIX
from .errors import ConfigError
from .logs import log_event
from .vocabulary import MAX_IDENTIFIER_BYTES, is_reserved, sink_column_name

log = logging.getLogger(__name__)
_REFERENCE = re.compile(r"(\$\$\{)|\$\{([^}]*)\}|(\$\{)")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.ASCII | re.DOTALL)


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




class LiveConfig:
    """The configuration of a running job: `tables:` follows the file (make add-table / remove-table
    edit it), everything else stays as loaded at start (a restart applies it, and the job says so).

    `current()` is called at the start of every micro-batch: it re-reads the file only when its bytes
    changed. A file that no longer loads is refused with an ERROR, and the tables of the last good
    version stay: a typo must not stop the stream."""

    def __init__(self, path: str | Path, environ: Mapping[str, str] | None = None):
        self.path, self.environ = Path(path), environ
        self._lock = threading.Lock()
        self._digest = self._read_digest()
        self.config = load_config(self.path, environ)

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def current(self) -> PipelineConfig:
        with self._lock:
            digest = self._read_digest()
            if digest is None or digest == self._digest:
                return self.config
            self._digest = digest
            try:
                new = load_config(self.path, self.environ)
            except ConfigError as err:
                log_event(log, "cdc_config_refused", logging.ERROR, path=str(self.path), error=str(err),
                          detail="the file changed but does not load; the job keeps the tables it had")
                return self.config
            if dataclasses.replace(new, tables=self.config.tables) != self.config:
                log_event(log, "cdc_config_restart_needed", logging.WARNING, path=str(self.path),
                          detail="changes outside tables: apply at the next start of the job")
            if new.tables != self.config.tables:
                old = {t.topic: t for t in self.config.tables}
                now = {t.topic: t for t in new.tables}
                log_event(log, "cdc_config_reload", path=str(self.path),
                          added=sorted(set(now) - set(old)), removed=sorted(set(old) - set(now)),
                          changed=sorted(t for t in set(now) & set(old) if now[t] != old[t]))
                self.config = dataclasses.replace(self.config, tables=new.tables)
            return self.config


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
            transactions=self.transactions(document.get("transactions"), tables),
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
            max_record_bytes=self.integer(section, path, "max_record_bytes"),
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
            named = [(f"{path}.key_columns", c) for c in key_columns] + [
                (f"{path}.stats.{k}", getattr(stats, k)) for k in ("group_by", "sum_column", "opened_at_column")
                if stats is not None and getattr(stats, k)]
            for where, column in named:
                if sink_column_name(column) != column and not is_reserved(column):
                    raise ConfigError(f"{where}: {column!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte "
                                      f"identifiers (stored in the sinks as {sink_column_name(column)!r}); key and "
                                      "statistics columns cannot be renamed, rename the column in MySQL")
                if is_reserved(column):
                    raise ConfigError(f"{where}: {column!r} is named like a pipeline column (stored in the sinks as "
                                      f"{sink_column_name(column)!r}); key and statistics columns cannot be renamed, "
                                      "rename the column in MySQL")
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
        self.interval(s, path, "commit_interval")
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
            commit_interval=self.string(s, path, "commit_interval"),
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
            metrics_host=self.string(s, path, "metrics_host"),
            metrics_port=self.integer(s, path, "metrics_port", minimum=0, maximum=65535,
                                      what="a port number (0: no endpoint)"),
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
                shown = f"{value!r}" if key == "connect_url" else "a value that is not one (not shown: a webhook URL is a secret)"
                raise ConfigError(f"alerts.{key}: expected an http:// or https:// URL or empty, got {shown}")
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

    def transactions(self, raw: Any, tables: tuple[TableConfig, ...]) -> TransactionsConfig:
        path = "transactions"
        s = self.section(raw, path, _keys(path))
        topic = self.get(s, path, "topic")
        if topic is FROM_PREFIX:
            topic = tables[0].topic.split(".", 1)[0] + TRANSACTION_TOPIC_SUFFIX if tables else None
        else:
            topic = self.string(s, path, "topic")
            if not topic.endswith(TRANSACTION_TOPIC_SUFFIX) or topic == TRANSACTION_TOPIC_SUFFIX:
                raise ConfigError(f"transactions.topic: expected Debezium's '<topic.prefix>{TRANSACTION_TOPIC_SUFFIX}', got {topic!r}")
        release_after = self.interval(s, path, "release_after")
        if release_after < 1000:
            raise ConfigError(f"transactions.release_after: expected at least 1 second, got {self.get(s, path, 'release_after')!r}")
        return TransactionsConfig(
            consistent=self.boolean(s, path, "consistent"),
            topic=topic,
            release_after_ms=release_after,
            max_held_records=self.integer(s, path, "max_held_records"),
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
