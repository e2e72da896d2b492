"""Chaos: a random workload while the streaming job, Kafka Connect, the broker, PostgreSQL and the S3
server are killed (SIGKILL) and restarted at random moments, and each of the job's two paths (its
PostgreSQL and its Iceberg query) is killed alone; at the end `make verify` passes.

A path is killed the way an operator would from the Spark UI: its running Spark job is cancelled
(`/jobs/job/kill`), the query fails, and its supervisor restarts it from its checkpoint while the other
path runs on.

Bounded: CDC_CHAOS_KILLS kills (default 12: every component twice, each path once), a few seconds apart.
`make chaos` runs it; `make chaos CHAOS_KILLS=30` a larger one.

`make test` runs the small size. The broker is Apache Kafka (KRaft, one node), killed like any other
JVM; its log is on its own disk, so the S3 server killed is only the lakehouse's.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from cdc_pipeline.supervisor import read_status
from pipeline_support import CONFIG, job_alive, job_log_tail, kill_job, start_job, wait_converged
from stack.services import service
from stack.settings import REPO_ROOT
from stack.workload import RandomWorkload
from stack_support import SETTINGS, ensure_stack_up, mysql_connect

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.chaos]
COMPONENTS = ("job", "connect", "kafka", "postgres", "seaweedfs")
PATHS = ("postgres-path", "iceberg-path")
KILLS = max(12, int(os.environ.get("CDC_CHAOS_KILLS", "12")))
CONNECTOR = service(SETTINGS, "connect").connector_name


def job_status() -> dict:
    path = Path(CONFIG.job.status_file)
    return read_status(path if path.is_absolute() else REPO_ROOT / path) or {}


def job_was_cancelled(ui: str, app: str, job_id: int, timeout: float = 10) -> bool:
    """Whether the kill took: the job ended FAILED (a short job may have SUCCEEDED just before it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = requests.get(f"{ui}/api/v1/applications/{app}/jobs/{job_id}", timeout=2).json().get("status")
        except (requests.RequestException, ValueError):
            state = None
        if state in ("FAILED", "SUCCEEDED"):
            return state == "FAILED"
        time.sleep(0.2)
    return False


def kill_path(sink: str, timeout: float = 60) -> str:
    """Cancel a running Spark job of one path's query through the Spark UI; wait (bounded) until that
    path's supervisor has restarted it. Returns what happened."""
    status = job_status()
    path = (status.get("paths") or {}).get(sink)
    if not status.get("spark_ui") or path is None:
        return "no job status"
    ui = f"http://{SETTINGS.host}:{urlsplit(status['spark_ui']).port}"
    restarts = path.get("restarts_total") or 0
    deadline = time.monotonic() + timeout
    cancelled = None
    while cancelled is None and time.monotonic() < deadline:
        try:
            app = requests.get(f"{ui}/api/v1/applications", timeout=2).json()[0]["id"]
            running = requests.get(f"{ui}/api/v1/applications/{app}/jobs", params={"status": "running"},
                                   timeout=2).json()
        except (requests.RequestException, ValueError, IndexError, KeyError):
            running = []
        for spark_job in running:
            if (spark_job.get("description") or "").startswith(path["query_name"] + "\n"):
                requests.get(f"{ui}/jobs/job/kill/", params={"id": spark_job["jobId"]}, timeout=5)
                if job_was_cancelled(ui, app, spark_job["jobId"]):
                    cancelled = spark_job["jobId"]
                break  # a job that finished before the kill reached it: look for another
        else:
            time.sleep(0.1)
    if cancelled is None:
        return "no running Spark job to cancel"
    while time.monotonic() < deadline:
        state = (job_status().get("paths") or {}).get(sink) or {}
        if (state.get("restarts_total") or 0) > restarts and state.get("state") == "running":
            return f"Spark job {cancelled} cancelled; the path restarted"
        time.sleep(0.5)
    return f"Spark job {cancelled} cancelled; no restart seen within {timeout:.0f}s"


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
    schedule = list(COMPONENTS) * 2 + list(PATHS) + [rng.choice(COMPONENTS + PATHS)
                                                      for _ in range(KILLS - 2 * len(COMPONENTS) - len(PATHS))]
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
    events, path_kills = [], []
    try:
        for target in schedule:
            time.sleep(rng.uniform(2, 8))
            started = time.monotonic()
            if target == "job":
                kill_job()
                start_job()
            elif target in PATHS:
                outcome = kill_path(target.split("-")[0])
                path_kills.append((target, outcome))
                events.append(f"{target}: {outcome}")
                continue
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
    for target in PATHS:  # each path was killed alone at least once, and came back by itself
        assert any(t == target and o.endswith("the path restarted") for t, o in path_kills), path_kills
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
