"""`make up` is idempotent, `make down` stops exactly the stack, and a full restart resumes CDC."""
import json
import random
import subprocess
import sys

import pytest

from stack.process import is_alive
from stack.services import all_services, service
from stack_support import BANK_ACCOUNTS_TOPIC, SETTINGS, consume_until, end_offsets, mysql_connect

pytestmark = pytest.mark.integration


def stack_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", *args], capture_output=True, text=True, timeout=400)


def pids() -> dict[str, int | None]:
    return {svc.name: svc.proc.pid() for svc in all_services(SETTINGS)}


def test_up_on_running_stack_changes_nothing():
    before = pids()
    assert all(before.values()), before
    connect = service(SETTINGS, "connect")
    config_before = connect.rest("GET", f"/connectors/{connect.connector_name}/config").json()
    tasks_before = connect.rest("GET", f"/connectors/{connect.connector_name}/tasks").json()
    result = stack_cli("up")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert pids() == before
    assert connect.rest("GET", f"/connectors/{connect.connector_name}/config").json() == config_before
    assert connect.rest("GET", f"/connectors/{connect.connector_name}/tasks").json() == tasks_before
    # Every service is healthy. The exit code also speaks of the streaming job, which is whatever a user
    # left it as (running, stopped, or dead after a `make down`): 1 only for a failed or dead job.
    status = stack_cli("status", "--json")
    document = json.loads(status.stdout)
    assert all(row["healthy"] for row in document["services"]), document["services"]
    job_state = document["job"]["state"]
    job_failed = job_state == "permanently_failed" or job_state.startswith("dead")
    assert status.returncode == (1 if job_failed else 0), (job_state, status.stderr[-2000:])
    assert stack_cli("status", "--services-only").returncode == 0


def test_down_stops_every_recorded_process_and_up_resumes_cdc(restore_stack):
    start = end_offsets(BANK_ACCOUNTS_TOPIC)
    before = pids()
    result = stack_cli("down")
    assert result.returncode == 0, result.stderr
    assert not any(is_alive(pid) for pid in before.values() if pid), result.stdout
    status = stack_cli("status")
    assert status.returncode != 0 and "stopped" in status.stdout

    result = stack_cli("up")
    assert result.returncode == 0, result.stdout + result.stderr

    # After a full restart the connector resumes from its stored offsets: a new change arrives and
    # no table is snapshotted again (the broker's short ListOffsets answer would show up here).
    user_id = random.randint(5 * 10**9, 6 * 10**9)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account) VALUES (%s, 'after-restart')", (user_id,))
        row_id = cur.lastrowid
    events = consume_until(BANK_ACCOUNTS_TOPIC, lambda got: any(e.key == {"id": row_id} for e in got),
                           timeout=60, start=start)
    resnapshot = [e.value["after"]["id"] for e in events if e.value and e.value["op"] == "r"]
    assert not resnapshot, f"the table was snapshotted again after the restart (ids {resnapshot[:10]})"
