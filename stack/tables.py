"""`make add-table`, `make remove-table`, `make resnapshot`: change what the pipeline captures while it runs.

Adding a table: check it in MySQL (exists, has a key), add its `tables:` entry to the pipeline config
(the running job re-reads it at its next micro-batch: config_loader.LiveConfig), add it to the
connector's `table.include.list` (the conf/debezium-*-connector.json files, so `make up` keeps it, and
Connect's REST API, which restarts only the connector's task: no new snapshot of the other tables),
then ask Debezium for an incremental snapshot of it through the signal table. The config is written
first, so the job knows the table before its first record reaches Kafka. Removing does the reverse;
the sinks' tables stay. The pure edits live in cdc_pipeline/capture.py.
"""
from __future__ import annotations

import functools
import json
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from cdc_pipeline import capture

from .errors import CaptureError, ServiceError
from .job import load_pipeline_config
from .process import wait_until
from .settings import REPO_ROOT, StackSettings
from .status import backfills_file, read_backfills
from .topics import end_offsets, records

CONNECTOR_FILES = "debezium-*-connector.json"
SIGNAL_SEEN_TIMEOUT = 60  # seconds for Debezium to open a snapshot window before the signal is sent again


class Capture:
    """The pipeline config, the connector files and the running connector, for one command."""

    def __init__(self, settings: StackSettings, config_path: Path):
        self.s, self.config_path = settings, config_path
        self.config = load_pipeline_config(settings, config_path)
        self.connector_files = sorted((REPO_ROOT / "conf").glob(CONNECTOR_FILES))
        if not self.connector_files:
            raise ServiceError(f"no conf/{CONNECTOR_FILES}")
        self.specs = {path: json.loads(path.read_text()) for path in self.connector_files}
        self._running: set[str] | None = None  # names of the connectors Connect runs (asked once)

    # -- Connect

    def rest(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        import requests
        try:
            return requests.request(method, self.s.connect_url + path, json=body, timeout=timeout)
        except requests.RequestException as err:
            raise ServiceError(f"Kafka Connect at {self.s.connect_url}: {type(err).__name__}: {err}") from err

    def registered(self) -> dict[Path, dict]:
        """The connector files whose connector runs on this Connect (the local stack's or compose's)."""
        if self._running is None:
            resp = self.rest("GET", "/connectors")
            if resp.status_code != 200:
                raise ServiceError(f"Kafka Connect: GET /connectors: HTTP {resp.status_code} {resp.text[:300]}")
            self._running = set(resp.json())
        found = {path: spec for path, spec in self.specs.items() if spec["name"] in self._running}
        if not found:
            raise ServiceError(f"none of the connectors of conf/{CONNECTOR_FILES} runs on {self.s.connect_url} "
                               f"(registered: {sorted(self._running) or 'none'}); start the stack first (make up)")
        return found

    def connector_config(self) -> dict:
        """The running connector's config as its file has it."""
        return next(iter(self.registered().values()))["config"]

    def apply_connector(self, edit) -> None:
        """`edit(config) -> config` on every connector file, then PUT to the running connector and wait
        until its task runs with it (Connect restarts the task; offsets and other tables are untouched)."""
        running, old = self.registered(), dict(self.specs)
        try:
            for path, spec in old.items():
                self.specs[path] = {**spec, "config": edit(spec["config"])}
                _write_atomically(path, json.dumps(self.specs[path], indent=2) + "\n")
            for path in running:
                self._put(self.specs[path])
        except BaseException:
            # Back to where it was: the files, and the connector (best effort; the error is the news).
            for path, spec in old.items():
                _write_atomically(path, json.dumps(spec, indent=2) + "\n")
            for path in running:
                try:
                    self.rest("PUT", f"/connectors/{old[path]['name']}/config", old[path]["config"])
                except ServiceError:
                    pass
            self.specs = old
            raise

    def _put(self, spec: dict) -> None:
        name, config = spec["name"], spec["config"]
        resp = self.rest("PUT", f"/connectors/{name}/config", config)
        if resp.status_code not in (200, 201):
            raise ServiceError(f"Kafka Connect refused the new config of {name}: HTTP {resp.status_code} "
                               f"{resp.text[:500]}")
        wait_until(lambda: self._task_runs_with(name, config["table.include.list"]), 90,
                   f"connector {name}'s task restarted with the new table list", interval=1)

    def _task_runs_with(self, name: str, include_list: str) -> bool:
        tasks = self.rest("GET", f"/connectors/{name}/tasks")
        status = self.rest("GET", f"/connectors/{name}/status")
        if tasks.status_code != 200 or status.status_code != 200:
            return False
        configs = [t.get("config", {}).get("table.include.list") for t in tasks.json()]
        states = [t["state"] for t in status.json().get("tasks", [])]
        if "FAILED" in states:
            trace = next((t.get("trace", "") for t in status.json()["tasks"] if t["state"] == "FAILED"), "")
            raise ServiceError(f"connector {name}'s task FAILED: {trace.splitlines()[0] if trace else '?'}")
        return bool(configs) and all(c == include_list for c in configs) and states and all(
            s == "RUNNING" for s in states)

    # -- MySQL

    def mysql(self):
        import pymysql
        return pymysql.connect(**self.config.mysql.connect_kwargs(), connect_timeout=5, autocommit=True)

    def check_source_table(self, table, key_columns: tuple[str, ...]) -> tuple[str, ...]:
        """The key the table is captured with: KEY if given (its columns must exist, NOT NULL), else
        the primary key; a table with neither is refused."""
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute("SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                        (table.database, table.table))
            nullable = dict(cur.fetchall())
            if not nullable:
                raise ServiceError(f"MySQL has no table {table.qualified} (or {self.config.mysql.user} cannot see it)")
            cur.execute("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                        (table.database, table.table))
            primary = tuple(r[0] for r in cur.fetchall())
        if not key_columns:
            if not primary:
                raise ServiceError(f"{table.qualified} has no primary key: name the columns that identify a row, "
                                   f"e.g. make add-table TABLE={table.qualified} KEY=<column,...>")
            return primary
        for column in key_columns:
            if column not in nullable:
                raise ServiceError(f"KEY: {table.qualified} has no column {column!r} (it has {', '.join(nullable)})")
            if nullable[column] == "YES":
                raise ServiceError(f"KEY: {table.qualified}.{column} is NULL-able; a key column must be NOT NULL")
        return key_columns

    def ensure_signal_table(self) -> str:
        """The connector's signal table, created when missing (stacks made before it was in mysql-init)."""
        collection = self.connector_config().get("signal.data.collection")
        if not collection:
            raise ServiceError("the connector has no signal.data.collection (conf/debezium-*-connector.json); "
                               "incremental snapshots need it")
        database, _, name = collection.partition(".")
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS `{database}`.`{name}` (id VARCHAR(64) NOT NULL, "
                        "type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL, PRIMARY KEY (id)) ENGINE=InnoDB")
        return collection

    def send_snapshot_signal(self, table, collection: str) -> str:
        """Insert the execute-snapshot row into the signal table `collection`; Debezium reads it from
        the binlog. Returns the signal's id."""
        database, _, name = collection.partition(".")
        kind, data = capture.snapshot_signal(table)
        signal_id = f"cdc-{uuid.uuid4()}"
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{database}`.`{name}` (id, type, data) VALUES (%s, %s, %s)",
                        (signal_id, kind, data))
        return signal_id

    def request_snapshot(self, table, topic: str, rows: int) -> str:
        """Signal an incremental snapshot and wait until Debezium opens its first window; the signal is
        sent once more if it did not (a signal read by the task Connect was replacing is dropped).
        Returns the signal's id."""
        collection = self.ensure_signal_table()
        for _attempt in range(2):
            since = self.end_offsets(self.signal_topic())
            self.record_backfill(table, topic, self.topic_records(topic), rows)
            signal_id = self.send_snapshot_signal(table, collection)
            if not rows:
                return signal_id  # an empty table: no chunk, no window
            deadline = time.monotonic() + SIGNAL_SEEN_TIMEOUT
            while time.monotonic() < deadline:
                if self.snapshot_window_opened(since):
                    return signal_id
                time.sleep(1)
        raise ServiceError(f"Debezium did not start the snapshot of {table.qualified}: no snapshot window in "
                           f"{collection} within {SIGNAL_SEEN_TIMEOUT} s of either of two signals; see "
                           f".stack/logs/connect.log, then make resnapshot TABLE={table.qualified}")

    def forget_backfill(self, table) -> None:
        recorded = read_backfills(self.s)
        if recorded.pop(table.table, None) is not None:
            _write_atomically(backfills_file(self.s), json.dumps(recorded, indent=2) + "\n")

    def record_backfill(self, table, topic: str, baseline: int, rows: int) -> None:
        """For make status: the snapshot's progress is the topic's growth since now (stack/status.py)."""
        recorded = read_backfills(self.s)
        recorded[table.table] = {"topic": topic, "baseline": baseline, "estimate": rows,
                                 "requested_at": time.time()}
        backfills_file(self.s).parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(backfills_file(self.s), json.dumps(recorded, indent=2) + "\n")

    def row_count(self, table) -> int:
        with self.mysql() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{table.database}`.`{table.table}`")
            return int(cur.fetchone()[0])

    # -- Kafka

    def topic_records(self, topic: str) -> int:
        return records(self.s.kafka_bootstrap, [topic])[topic]

    def signal_topic(self) -> str:
        return f"{_topic_prefix(self.connector_config())}.{self.connector_config()['signal.data.collection']}"

    def end_offsets(self, topic: str) -> dict[int, int]:
        return end_offsets(self.s.kafka_bootstrap, topic)

    def snapshot_window_opened(self, since: dict[int, int]) -> bool:
        """Whether Debezium opened an incremental snapshot window since these offsets of its signal
        topic (it writes `snapshot-window-open` rows to the signal table, which it also captures)."""
        from confluent_kafka import Consumer, TopicPartition
        topic = self.signal_topic()
        ends = self.end_offsets(topic)
        consumer = Consumer({"bootstrap.servers": self.s.kafka_bootstrap, "group.id": "cdc-capture",
                             "enable.auto.commit": False})
        try:
            wanted = {p: end for p, end in ends.items() if end > since.get(p, 0)}
            if not wanted:
                return False
            consumer.assign([TopicPartition(topic, p, since.get(p, 0)) for p in wanted])
            seen = 0
            for _ in range(100):  # bounded: a few records per chunk
                for message in consumer.consume(100, timeout=1):
                    if message.error() is None:
                        seen += 1
                        value = json.loads(message.value()) if message.value() else None
                        after = ((value or {}).get("payload") or {}).get("after") or {}
                        if after.get("type") == "snapshot-window-open":
                            return True
                if seen >= sum(end - since.get(p, 0) for p, end in wanted.items()):
                    return False
            return False
        finally:
            consumer.close()

    # -- the pipeline config

    def edit_config(self, edit) -> str:
        """Apply `edit(text) -> text` to the pipeline config file (atomically); returns the old text."""
        old = self.config_path.read_text(encoding="utf-8")
        new = edit(old)
        _write_atomically(self.config_path, new)
        try:
            load_pipeline_config(self.s, self.config_path)
        except Exception:
            _write_atomically(self.config_path, old)
            raise
        return old


def _reported(command):
    """The pipeline's own errors (a bad TABLE/KEY, a config that cannot be edited) as the launcher's."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from cdc_pipeline.errors import PipelineError
        try:
            return command(*args, **kwargs)
        except PipelineError as err:
            raise CaptureError(str(err)) from err
    return run


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _topic_prefix(connector_config: dict) -> str:
    prefix = connector_config.get("topic.prefix")
    if not prefix:
        raise ServiceError("the connector config has no topic.prefix")
    return prefix


@_reported
def add_table(settings: StackSettings, config_path: Path, table_text: str, key_text: str | None = None) -> list[str]:
    table, keys = capture.SourceTable.parse(table_text), capture.parse_key_columns(key_text)
    c = Capture(settings, config_path)
    connector = c.connector_config()
    topic = table.topic(_topic_prefix(connector))
    if not c.config.source.subscribes_to(topic):
        raise ServiceError(f"{topic} is outside source.topic_pattern / source.topics of {config_path}: widen it "
                           "there first (the job applies a source change at its next start)")
    key_columns = c.check_source_table(table, keys)
    rows = c.row_count(table)
    note = f"added by make add-table, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    old_config = c.edit_config(lambda text: capture.add_table_entry(text, topic, table.table, key_columns, note))
    try:
        c.apply_connector(lambda config: capture.with_table(config, table, keys))
    except BaseException:
        _write_atomically(config_path, old_config)  # the connector files and the connector are restored
        raise
    signal_id = c.request_snapshot(table, topic, rows)
    lines = [f"{table.qualified}: captured as {topic}, key ({', '.join(key_columns)}); sinks: {table.table}_history, "
             f"{table.table}_current, {table.table}_versions in PostgreSQL, {c.config.iceberg.catalog_name}."
             f"{c.config.iceberg.namespace}.{table.table}_current/_changes in Iceberg",
             f"  {config_path.name}: tables entry added (the running job picks it up at its next micro-batch)",
             f"  connector: table.include.list now {c.connector_config()['table.include.list']}"]
    if rows:
        lines.append(f"  incremental snapshot of {rows:,} rows started (signal {signal_id}); progress: make status")
    else:
        lines.append(f"  the table is empty: nothing to snapshot (signal {signal_id} sent anyway)")
    return lines


def _target(settings: StackSettings, config_path: Path, table_text: str):
    """(the table, its Capture, its topic) for remove-table and resnapshot."""
    table = capture.SourceTable.parse(table_text)
    c = Capture(settings, config_path)
    return table, c, table.topic(_topic_prefix(c.connector_config()))


@_reported
def remove_table(settings: StackSettings, config_path: Path, table_text: str) -> list[str]:
    table, c, topic = _target(settings, config_path, table_text)
    configured = any(t.topic == topic for t in c.config.tables)
    is_captured = capture.captured(c.connector_config(), table)
    if not configured and not is_captured:
        raise ServiceError(f"{table.qualified} is neither under tables: in {config_path.name} nor captured by the connector")
    if is_captured:
        c.apply_connector(lambda config: capture.without_table(config, table))
    drained = _wait_until_applied(c, topic) if configured else ""
    if configured:
        c.edit_config(lambda text: capture.remove_table_entry(text, topic))
    c.forget_backfill(table)
    return [f"{table.qualified}: no longer captured (connector include list: "
            f"{c.connector_config()['table.include.list']}); removed from {config_path.name}",
            *([f"  {drained}"] if drained else []),
            f"  the sinks keep {table.table}_history/_current (PostgreSQL) and {table.table}_current/_changes "
            "(Iceberg); drop them by hand if they should go",
            f"  records of {topic} the job reads from now on go to the dead letters (unconfigured_topic)"]


def _wait_until_applied(c: Capture, topic: str) -> str:
    """Before the table leaves the config: every path of a running job has read its topic to the end
    (Debezium no longer writes to it) and holds none of it back for a transaction not yet complete,
    so its last changes are applied, not dead letters. The Iceberg
    path reads at its commit interval: the wait is bounded by that plus a minute."""
    from cdc_pipeline.supervisor import read_status, paths_behind
    from .job import STREAM, app_process
    from .status import resolve
    if app_process(c.s, STREAM).pid() is None:
        return (f"no job started by make submit runs here to wait for: records of {topic} the job has not applied "
                "yet go to the dead letters")
    ends = c.end_offsets(topic)
    from cdc_pipeline.config import interval_ms
    timeout = interval_ms(c.config.iceberg.commit_interval) / 1000 + 60
    status_file = resolve(c.config.job.status_file)
    try:
        wait_until(lambda: not paths_behind(read_status(status_file) or {}, topic, ends), timeout,
                   f"the job's paths reading {topic} to its end before the table leaves the config", interval=1)
    except ServiceError as err:
        behind = paths_behind(read_status(status_file) or {}, topic, ends)
        raise CaptureError(f"the connector no longer captures {topic}, but the job's {', '.join(behind)} path(s) "
                           f"have not read it to its end within {timeout:.0f} s, so it stays under tables: (its last "
                           f"changes are still applied); run the command again later ({err})") from None
    return f"the job applied {topic} to its end in each path before the table left the config"


@_reported
def resnapshot(settings: StackSettings, config_path: Path, table_text: str) -> list[str]:
    table, c, topic = _target(settings, config_path, table_text)
    if not any(t.topic == topic for t in c.config.tables) or not capture.captured(c.connector_config(), table):
        raise ServiceError(f"{table.qualified} is not captured; add it with make add-table TABLE={table.qualified}")
    signal_id = c.request_snapshot(table, topic, c.row_count(table))
    return [f"{table.qualified}: incremental snapshot requested (signal {signal_id}); every current row is "
            "written again as a read (op r) and applied in order with live changes; progress: make status"]
