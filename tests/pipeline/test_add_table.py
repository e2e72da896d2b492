"""Adding a table to the running pipeline (`make add-table`, README "Adding a table"): a MySQL table
created with 20 000 rows while the job runs is added with the command while a workload updates, deletes
and inserts its rows; Debezium's incremental snapshot backfills it, interleaved with the live changes,
and both sinks end equal to MySQL with every change in the history once (`make verify` too). Then the
table is removed (no more changes reach the sinks) and added again (the changes of the gap arrive with
the new snapshot), and snapshotted once more on demand (`make resnapshot`). The pipeline config and
the connector files are restored afterwards."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from cdc_pipeline.config import TableConfig
from pipeline_support import check_sinks, pg_rows, wait_for
from stack_support import mysql_connect, pg_connect

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000
EDITED = [REPO_ROOT / "conf" / "pipeline.yaml", *sorted((REPO_ROOT / "conf").glob("debezium-*-connector.json"))]


@pytest.fixture
def added_tables():
    """The command edits the shipped config files (as it does for users): the tables the test added are
    removed again (connector included), then the files are put back byte for byte."""
    saved = {path: path.read_bytes() for path in EDITED}
    added: list[str] = []
    yield added
    for qualified in added:
        make("remove-table", f"TABLE={qualified}")
    for path, data in saved.items():
        path.write_bytes(data)


def make(*args, timeout=400) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args, f"PY={sys.executable}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def create_table(name: str) -> None:
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}` (id BIGINT NOT NULL AUTO_INCREMENT, customer_id BIGINT NOT NULL, "
                    "principal DECIMAL(18,2) NOT NULL, status VARCHAR(16) NOT NULL, opened_on DATE NOT NULL, "
                    "PRIMARY KEY (id)) ENGINE=InnoDB")
        rows = [(i % 997, f"{1000 + i % 5000}.{i % 100:02d}", "open", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
                for i in range(ROWS)]
        for start in range(0, ROWS, 2000):
            cur.executemany(f"INSERT INTO `{name}` (customer_id, principal, status, opened_on) VALUES (%s, %s, %s, %s)",
                            rows[start:start + 2000])


class Workload(threading.Thread):
    """Updates, deletes and inserts on the new table, bounded in count and time."""

    def __init__(self, name: str, changes: int, seed: int, seconds: float = 120):
        super().__init__(daemon=True)
        self.name_, self.changes, self.rng, self.seconds = name, changes, random.Random(seed), seconds
        self.done, self.error = 0, None

    def run(self):
        try:
            deadline = time.monotonic() + self.seconds
            with mysql_connect() as conn, conn.cursor() as cur:
                while self.done < self.changes and time.monotonic() < deadline:
                    key, roll = self.rng.randint(1, ROWS), self.rng.random()
                    if roll < 0.6:
                        cur.execute(f"UPDATE `{self.name_}` SET principal = principal + 1, status = %s WHERE id = %s",
                                    (self.rng.choice(["open", "late", "paid"]), key))
                    elif roll < 0.85:
                        cur.execute(f"DELETE FROM `{self.name_}` WHERE id = %s", (key,))
                    else:
                        cur.execute(f"INSERT INTO `{self.name_}` (customer_id, principal, status, opened_on) "
                                    "VALUES (%s, 5.00, 'new', '2025-01-01')", (key % 997,))
                    self.done += 1
                    time.sleep(0.01)
        except Exception as err:  # reported by the test
            self.error = err


def sinks_problems(table: TableConfig, lake) -> list[str]:
    return check_sinks(lake, configs=[table])


def test_add_a_table_while_the_job_runs_then_remove_and_add_it_again(pipeline, lake, added_tables, alert_receiver):
    name = f"loans_{uuid.uuid4().hex[:8]}"
    qualified = f"bankdb.{name}"
    table = TableConfig(topic=f"oltp.{qualified}", name=name, key_columns=("id",))
    create_table(name)
    alerts_before = len(alert_receiver.texts())

    workload = Workload(name, changes=3000, seed=17)
    workload.start()
    time.sleep(2)  # the workload runs before, during and after the command
    added_tables.append(qualified)
    added = make("add-table", f"TABLE={qualified}")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "incremental snapshot of" in added.stdout and f"{name}_current" in added.stdout, added.stdout
    workload.join(180)
    assert workload.error is None and workload.done > 500, (workload.done, workload.error)

    # The command's edits: the config entry the job follows, the connector file `make up` registers.
    entry = [t for t in _current_tables() if t["topic"] == table.topic]
    assert entry == [{"topic": table.topic, "name": name, "key_columns": ["id"], "sinks": ["iceberg", "postgres"]}]
    connector = json.loads((REPO_ROOT / "conf" / "debezium-mariadb-connector.json").read_text())["config"]
    assert qualified in connector["table.include.list"].split(",")

    wait_for(lambda: sinks_problems(table, lake), 420, f"{name}: MySQL = Iceberg current = PostgreSQL current")
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FILTER (WHERE _op = \'r\'), count(*) FILTER (WHERE _op <> \'r\') FROM "{name}_history"')
        reads, live = cur.fetchone()
    assert reads > ROWS * 0.8 and live > 0, (reads, live)  # backfilled by the snapshot, plus the live changes

    verify = subprocess.run([sys.executable, "jobs/verify.py", "--json"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=900)
    document = json.loads(verify.stdout)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    assert name in json.dumps(document), "make verify does not cover the added table"

    # Remove: the connector stops capturing it, the job's config no longer has it; the sinks stay.
    removed = make("remove-table", f"TABLE={qualified}")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "applied oltp." in removed.stdout and "to its end in each path" in removed.stdout, removed.stdout
    assert not [t for t in _current_tables() if t["topic"] == table.topic]
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{name}` SET status = 'gap' WHERE id % 10 = 3")
        changed_in_gap = cur.rowcount
        cur.execute(f"INSERT INTO `{name}` (customer_id, principal, status, opened_on) VALUES (1, 1.00, 'gap', '2025-02-02')")
    time.sleep(15)
    assert _pg_count(f"SELECT count(*) FROM \"{name}_current\" WHERE status = 'gap'") == 0

    # Add again: the new snapshot brings the gap's changes.
    again = make("add-table", f"TABLE={qualified}")
    assert again.returncode == 0, again.stdout + again.stderr
    wait_for(lambda: sinks_problems(table, lake), 420, f"{name} after it was added again")
    assert _pg_count(f"SELECT count(*) FROM \"{name}_current\" WHERE status = 'gap'") == changed_in_gap + 1

    # A re-snapshot on demand (repairs): every current row read again, and the sinks still equal MySQL.
    reads_before = _pg_count(f"SELECT count(*) FROM \"{name}_history\" WHERE _op = 'r'")
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{name}`")
        (mysql_rows,) = cur.fetchone()
    resnapshot = make("resnapshot", f"TABLE={qualified}")
    assert resnapshot.returncode == 0 and "incremental snapshot requested" in resnapshot.stdout, \
        resnapshot.stdout + resnapshot.stderr
    wait_for(lambda: [] if _pg_count(f"SELECT count(*) FROM \"{name}_history\" WHERE _op = 'r'")
             >= reads_before + mysql_rows else ["re-snapshot not applied yet"], 300, f"{name}'s re-snapshot")
    assert sinks_problems(table, lake) == []

    # Spark's Kafka source may trip over the new topic's partitions (supervisor.is_new_partitions_glitch):
    # the query is restarted at once, and that is no failure to alert about.
    failed = [t for t in alert_receiver.texts()[alerts_before:] if "query failed" in t]
    assert failed == [], failed

    refused = make("add-table", f"TABLE={qualified}")
    assert refused.returncode != 0 and "already" in refused.stderr, refused.stdout + refused.stderr
    missing = make("add-table", "TABLE=bankdb.no_such_table")
    assert missing.returncode != 0 and "MySQL has no table bankdb.no_such_table" in missing.stderr, missing.stderr


def _current_tables() -> list[dict]:
    import yaml
    return yaml.safe_load((REPO_ROOT / "conf" / "pipeline.yaml").read_text())["tables"]


def _pg_count(sql: str) -> int:
    return pg_rows(sql)[0][0]


def test_a_table_without_a_primary_key_is_added_with_the_key_named(pipeline, lake, added_tables):
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    qualified = f"bankdb.{name}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}` (entry_no BIGINT NOT NULL, branch VARCHAR(8) NOT NULL, "
                    "amount DECIMAL(18,2) NOT NULL, UNIQUE KEY uk (entry_no, branch)) ENGINE=InnoDB")
        cur.executemany(f"INSERT INTO `{name}` VALUES (%s, %s, %s)",
                        [(i, f"b{i % 3}", f"{i}.25") for i in range(300)])
    refused = make("add-table", f"TABLE={qualified}")
    assert refused.returncode != 0 and "has no primary key" in refused.stderr, refused.stdout + refused.stderr
    unknown = make("add-table", f"TABLE={qualified}", "KEY=nope")
    assert unknown.returncode != 0 and "has no column 'nope'" in unknown.stderr, unknown.stderr

    added_tables.append(qualified)
    added = make("add-table", f"TABLE={qualified}", "KEY=entry_no,branch")
    assert added.returncode == 0, added.stdout + added.stderr
    connector = json.loads((REPO_ROOT / "conf" / "debezium-mariadb-connector.json").read_text())["config"]
    assert connector["message.key.columns"] == f"{qualified}:entry_no,branch"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{name}` SET amount = amount + 1 WHERE entry_no < 50")
        cur.execute(f"DELETE FROM `{name}` WHERE entry_no >= 290")
    table = TableConfig(topic=f"oltp.{qualified}", name=name, key_columns=("entry_no", "branch"))
    wait_for(lambda: sinks_problems(table, lake), 300, f"{name} (keyed by entry_no, branch)")
