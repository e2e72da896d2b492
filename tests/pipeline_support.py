"""Helpers for tests of the streaming job against the real stack: run it, read both sinks, wait."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from cdc_pipeline.config_loader import load_config
from cdc_pipeline.verify import verify_table
from cdc_pipeline.verify_readers import history_duplicates, history_matches_current
from stack import job
from stack.process import is_alive
from stack.settings import REPO_ROOT
from stack_support import SETTINGS, mysql_connect, pg_connect

CONFIG_PATH = REPO_ROOT / "conf" / "pipeline.yaml"
CONFIG = load_config(CONFIG_PATH, {**os.environ, **SETTINGS.env()})


def start_job() -> str:
    return job.submit(SETTINGS, os.environ.get("MASTER", "local[2]"), CONFIG_PATH)


def stop_job() -> str:
    return job.stop(SETTINGS)


def job_alive() -> bool:
    return job.job_process(SETTINGS).pid() is not None


def kill_job() -> None:
    """SIGKILL the job's Python driver and its JVM (no shutdown hook runs), and wait until it is gone."""
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


def job_log_tail() -> str:
    return job.tail(SETTINGS)


def check_sinks(spark, tables=None, configs=None) -> list[str]:
    """Problems found (empty = MySQL equals both current tables, histories hold each change once), for
    the tables named `tables` among `configs` (default: the shipped config's)."""
    problems = []
    with mysql_connect() as m, pg_connect() as p:
        for table_cfg in configs or CONFIG.tables:
            if tables and table_cfg.name not in tables:
                continue
            for report in verify_table(table_cfg, m, p, spark, CONFIG.iceberg):
                if not report.ok:
                    problems.append(report.describe())
            dups = history_duplicates(p, table_cfg)
            if dups:
                problems.append(f"{table_cfg.name}_history holds {dups} change(s) twice")
            stale = history_matches_current(p, table_cfg)
            if stale:
                problems.append(f"{table_cfg.name}: latest history differs from current for keys {stale[:5]}")
    return problems


def wait_for(problems, timeout: float, what: str, interval: float = 2.0) -> None:
    """Poll `problems()` (a list of what is still wrong) until it is empty, while the job is alive;
    fail with the last problems and the end of the job's log. An exception from `problems()` counts
    as a problem, not a failure: a reader of a service that is just coming back (PostgreSQL after an
    outage test) recovers on a later poll."""
    deadline = time.monotonic() + timeout
    last: list = ["not checked yet"]
    while time.monotonic() < deadline:
        if not job_alive():
            raise AssertionError(f"the streaming job died while waiting for {what}:\n{job_log_tail()}")
        try:
            last = problems()
        except Exception as exc:  # noqa: BLE001 - reported at the deadline if it persists
            last = [f"checking raised {type(exc).__name__}: {str(exc)[:800]}"]
        if not last:
            return
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout:.0f}s; still: {last}\n--- job log ---\n{job_log_tail()}")


def wait_converged(spark, timeout: float = 180, tables=None) -> None:
    wait_for(lambda: check_sinks(spark, tables), timeout, "MySQL = Iceberg current = PostgreSQL current")


def pg_rows(sql: str, params=()) -> list:
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def job_log_path() -> Path:
    return job.job_process(SETTINGS).log_file
