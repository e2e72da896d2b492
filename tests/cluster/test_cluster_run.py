"""The streaming job on a Spark standalone cluster: `make cluster-up`, then `make submit MASTER=spark://…`.

The master and worker are real processes started by `python -m stack cluster-up`; the job's driver runs
here (client mode) and its tasks on the worker's executor. Afterwards the job and the cluster are
stopped, so a later test can start the job in local mode again (same checkpoint).
"""
import random
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline_support import CONFIG, CONFIG_PATH, job_alive, pg_rows, stop_job, wait_converged
from stack import job
from stack.process import is_alive, wait_until
from stack.spark_cluster import EXECUTOR_CLASS, SparkMaster, SparkWorker, cluster_services, get_json
from stack_support import SETTINGS, ensure_stack_up, mysql_connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stack_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", *args], capture_output=True, text=True, timeout=400)


def executor_pids() -> list[int]:
    worker = SparkWorker(SETTINGS).proc.pid()
    if worker is None:
        return []
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == worker and EXECUTOR_CLASS.encode() in cmdline:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture
def cluster():
    ensure_stack_up()
    stop_job()  # a local-mode job of earlier tests: the job moves to the cluster, same checkpoint
    assert not job_alive()
    try:
        result = stack_cli("cluster-up")  # what `make cluster-up` runs
        assert result.returncode == 0, result.stdout + result.stderr
        yield SparkMaster(SETTINGS), SparkWorker(SETTINGS)
    finally:  # also when cluster-up failed half-way
        executors = executor_pids()
        print("job:", job.stop(SETTINGS))
        result = stack_cli("cluster-down")
        print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(svc.proc.pid() is None for svc in cluster_services(SETTINGS)), result.stdout
    assert not any(is_alive(pid) for pid in executors), f"executors left running: {executors}"
    assert not job_alive()


def test_job_runs_on_a_standalone_cluster_end_to_end(cluster, lake):
    master, worker = cluster
    assert master.state()["url"] == SETTINGS.spark_master_url
    print(job.submit(SETTINGS, SETTINGS.spark_master_url, CONFIG_PATH))
    assert job_alive()

    def app_with_executor():
        apps = [a for a in master.state()["activeapps"]
                if a["name"] == CONFIG.job.query_name and a["state"] == "RUNNING"]
        if len(apps) != 1:
            return None
        executors = [e for e in worker.state()["executors"] if e["appid"] == apps[0]["id"]]
        return (apps[0], executors) if executors else None

    app, executors = wait_until(app_with_executor, 180, "the job's application RUNNING with an executor on "
                                "the worker", job.job_process(SETTINGS).log_file, interval=2)
    assert app["cores"] >= 1
    # The driver is this machine's spark-submit (client mode), not a driver run by the cluster.
    assert get_json(f"{master.ui_url}/json/")["activedrivers"] == []

    user_id = random.randint(9 * 10**9, 10 * 10**9)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, 'cluster-1', 10.50)",
                    (user_id,))
        kept = cur.lastrowid
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, 'cluster-gone', 3)",
                    (user_id,))
        deleted = cur.lastrowid
        cur.execute("UPDATE bank_accounts SET account = 'cluster-2', balance = 20.25 WHERE id = %s", (kept,))
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (deleted,))

    wait_converged(lake, timeout=300)
    assert pg_rows("SELECT id, account, balance FROM bank_accounts_current WHERE user_id = %s", (user_id,)) \
        == [(kept, "cluster-2", Decimal("20.25"))]
    assert pg_rows("SELECT id, _change_type FROM bank_accounts_history WHERE user_id = %s ORDER BY _seq",
                   (user_id,)) == [(kept, "INSERT"), (deleted, "INSERT"), (kept, "UPDATE"), (deleted, "DELETE")]
    ice = lake.sql(f"SELECT id, account FROM lake.cdc.bank_accounts_current WHERE user_id = {user_id}").collect()
    assert [(r.id, r.account) for r in ice] == [(kept, "cluster-2")]

    # The micro-batches' tasks ran in the worker's executor, none in the driver (the driver's REST API).
    ui = re.findall(r"Spark UI: http://[^:/]+(:\d+)", job.job_process(SETTINGS).log_file.read_text(errors="replace"))
    api = f"http://{SETTINGS.host}{ui[-1]}/api/v1/applications/{app['id']}/executors"
    by_id = wait_until(lambda: {e["id"]: e for e in get_json(api, timeout=30)}, 120, api, interval=5)
    assert by_id["driver"]["totalTasks"] == 0, by_id["driver"]
    on_worker = [by_id[str(e["id"])] for e in executors if str(e["id"]) in by_id]
    assert on_worker and on_worker[0]["completedTasks"] > 0, by_id
    assert job_alive()
