"""Chaos: a random workload while the streaming job, Kafka Connect, the broker, PostgreSQL and the S3
server are killed (SIGKILL) and restarted at random moments; at the end `make verify` passes.

Bounded: CDC_CHAOS_KILLS kills (default 10, every component at least twice), a few seconds apart.
`make chaos` runs it; `make chaos CHAOS_KILLS=30` a larger one.

`make test` runs the small size. The broker is Apache Kafka (KRaft, one node), killed like any other
JVM; its log is on its own disk, so the S3 server killed is only the lakehouse's.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from pipeline_support import job_alive, job_log_tail, start_job, wait_converged
from stack import job
from stack.process import is_alive
from stack.services import service
from stack.settings import REPO_ROOT
from stack.workload import RandomWorkload
from stack_support import SETTINGS, ensure_stack_up, mysql_connect

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.chaos]
COMPONENTS = ("job", "connect", "kafka", "postgres", "seaweedfs")
KILLS = max(10, int(os.environ.get("CDC_CHAOS_KILLS", "10")))
CONNECTOR = service(SETTINGS, "connect").connector_name


def kill_job() -> None:
    proc = job.job_process(SETTINGS)
    jvm = proc.pid()
    if jvm is None:
        return
    driver = job._python_driver_of(jvm, job.STREAM.script)
    for pid in (driver, jvm):
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 30
    while is_alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.pid_file.unlink(missing_ok=True)


def restart_failed_connector_tasks() -> list[str]:
    """What an operator does on a `connector failed` alert: restart only the failed parts."""
    url = f"{SETTINGS.connect_url}/connectors/{CONNECTOR}"
    try:
        status = requests.get(f"{url}/status", timeout=10).json()
    except (requests.RequestException, ValueError):
        return []
    failed = [t["id"] for t in status.get("tasks", []) if t.get("state") == "FAILED"]
    if failed or status.get("connector", {}).get("state") == "FAILED":
        requests.post(f"{url}/restart", params={"includeTasks": "true", "onlyFailed": "true"}, timeout=30)
    return [f"task {t}" for t in failed]


def test_chaos_leaves_the_sinks_equal_to_mysql(pipeline, lake):
    rng = random.Random(int(os.environ.get("CDC_CHAOS_SEED", "20261122")))
    schedule = list(COMPONENTS) * 2 + [rng.choice(COMPONENTS) for _ in range(KILLS - 2 * len(COMPONENTS))]
    rng.shuffle(schedule)
    stop = threading.Event()
    written, errors = [], []

    def workload():
        seed = rng.randint(1, 10**6)
        try:
            with mysql_connect() as conn:
                written.append(RandomWorkload(seed).run(conn, changes=50_000, seconds=1200, rate=40,
                                                        should_stop=stop.is_set))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=workload, daemon=True)
    thread.start()
    events = []
    try:
        for target in schedule:
            time.sleep(rng.uniform(2, 8))
            started = time.monotonic()
            if target == "job":
                kill_job()
                start_job()
            else:
                svc = service(SETTINGS, target)
                svc.kill()
                time.sleep(rng.uniform(0.5, 4))
                svc.start()
            restarted = restart_failed_connector_tasks()
            events.append(f"{target} killed and back in {time.monotonic() - started:.0f}s"
                          + (f"; restarted connector {restarted}" if restarted else ""))
    finally:
        stop.set()
        thread.join(120)
        ensure_stack_up()
    assert not errors, f"the workload failed: {errors}"
    assert written and written[0] > 0
    restart_failed_connector_tasks()
    if not job_alive():  # e.g. permanently failed after many outages: an operator restarts it
        start_job()
    print("\n".join(events))
    wait_converged(lake, timeout=900)
    done = subprocess.run([sys.executable, "jobs/verify.py", "--json"], cwd=REPO_ROOT,
                          env={**os.environ, **SETTINGS.env()}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}\nchaos: {events}\n{job_log_tail()}"
    assert json.loads(done.stdout)["ok"] is True
