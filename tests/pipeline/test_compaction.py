"""Iceberg maintenance (`make compact`, jobs/compact.py) on the real stack: fewer files with the same
content, expired snapshots gone, and a run beside the streaming job that loses nothing."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from cdc_pipeline.logs import parse_lines, read_events
from pipeline_support import CONFIG, CONFIG_PATH, check_sinks, job_alive, job_log_tail, wait_converged, wait_for
from stack import job
from stack.settings import REPO_ROOT
from stack.workload import RandomWorkload
from stack_support import SETTINGS, mysql_connect

pytestmark = pytest.mark.integration


def maintenance_config(tmp_path, **maintenance) -> str:
    """conf/pipeline.yaml with another maintenance section."""
    document = yaml.safe_load(CONFIG_PATH.read_text())
    document["maintenance"] = maintenance
    path = tmp_path / f"pipeline-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def run_compaction(config_path: str, tables=(), timeout: float = 900):
    """`python -m stack compact` as `make compact` runs it; (exit code, the JSON report, output)."""
    argv = [sys.executable, "-m", "stack", "compact", "--config", config_path]
    for table in tables:
        argv += ["--table", table]
    done = subprocess.run(argv, cwd=REPO_ROOT, env={**os.environ, **SETTINGS.env()}, capture_output=True,
                          text=True, timeout=timeout)
    reports = list(parse_lines(done.stdout, "cdc_maintenance"))
    assert len(reports) == 1, f"expected one report, got {len(reports)}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.returncode, reports[0], done.stdout + done.stderr


def small_changes_files(lake) -> int:
    """Data files in the job's bank_accounts changes table: each batch appends at least one."""
    ident = f"{CONFIG.iceberg.catalog_name}.{CONFIG.iceberg.namespace}.bank_accounts_changes"
    if not lake.catalog.tableExists(ident):
        return 0
    lake.sql(f"REFRESH TABLE {ident}")
    return lake.sql(f"SELECT count(*) AS n FROM {ident}.files WHERE content = 0").first()["n"]


def steps_of(report, step, table=None):
    return [s for s in report["steps"] if s["step"] == step and (table is None or s["table"] == table)]


def content(lake, ident: str):
    """Row count and an order-independent checksum of every column."""
    row = lake.sql(f"SELECT count(*) AS n, sum(CAST(xxhash64(id, payload, amount) AS DECIMAL(38,0))) AS h "
                   f"FROM {ident}").first()
    return row["n"], row["h"]


def file_counts(lake, ident: str):
    rows = lake.sql(f"SELECT content, count(*) AS n FROM {ident}.files GROUP BY content").collect()
    counts = {r["content"]: r["n"] for r in rows}
    return counts.get(0, 0), counts.get(1, 0)  # data files, position-delete files


@pytest.fixture(scope="module")
def compacted_probe(tmp_path_factory, lake):
    """A table written in 30 small commits plus a merge-on-read delete, then one `make compact` run."""
    name = f"compact_probe_{uuid.uuid4().hex[:8]}"
    ident = f"lake.cdc.{name}"
    lake.sql("CREATE NAMESPACE IF NOT EXISTS lake.cdc")
    lake.sql(f"CREATE TABLE {ident} (id BIGINT, payload STRING, amount DECIMAL(12,2)) USING iceberg "
             "TBLPROPERTIES ('format-version'='2', 'write.delete.mode'='merge-on-read')")
    for batch in range(30):
        values = ", ".join(f"({batch * 10 + i}, 'p-{batch}-{i}', {batch}.{i:02d})" for i in range(10))
        lake.sql(f"INSERT INTO {ident} VALUES {values}")
    lake.sql(f"DELETE FROM {ident} WHERE id % 7 = 0")
    before = {"content": content(lake, ident), "files": file_counts(lake, ident),
              "snapshots": [r["snapshot_id"] for r in
                            lake.sql(f"SELECT snapshot_id FROM {ident}.snapshots ORDER BY committed_at").collect()]}
    config = maintenance_config(tmp_path_factory.mktemp("compact"), min_input_files=5, expire_older_than="0 seconds",
                                retain_last=2)
    code, report, output = run_compaction(config, [name])
    after = {"content": content(lake, ident), "files": file_counts(lake, ident),
             "snapshots": [r["snapshot_id"] for r in lake.sql(f"SELECT snapshot_id FROM {ident}.snapshots").collect()]}
    yield {"name": name, "ident": ident, "before": before, "after": after, "code": code, "report": report,
           "output": output}
    lake.sql(f"DROP TABLE IF EXISTS {ident} PURGE")


def test_small_files_are_compacted_and_the_content_is_unchanged(compacted_probe):
    before, after, report = compacted_probe["before"], compacted_probe["after"], compacted_probe["report"]
    assert compacted_probe["code"] == 0 and report["ok"], compacted_probe["output"][-4000:]
    assert before["content"][0] == 300 - 43 and before["files"][0] >= 30 and before["files"][1] >= 1
    assert after["content"] == before["content"]
    assert after["files"][0] < before["files"][0] and after["files"][1] == 0, (before["files"], after["files"])
    [rewrite] = steps_of(report, "rewrite_data_files")
    assert rewrite["status"] == "ok" and rewrite["files_rewritten"] >= 30 and rewrite["bytes_rewritten"] > 0
    assert [s["step"] for s in report["steps"]] == ["rewrite_data_files", "rewrite_position_delete_files",
                                                    "rewrite_manifests", "expire_snapshots", "remove_orphan_files"]
    assert all(s["status"] == "ok" for s in report["steps"])
    assert "STEP" in compacted_probe["output"] and "rewrite_data_files" in compacted_probe["output"]  # the table


def test_expired_snapshots_are_gone_and_the_data_reads_the_same(compacted_probe, lake):
    before, after = compacted_probe["before"], compacted_probe["after"]
    assert len(after["snapshots"]) == 2  # maintenance.retain_last
    old = set(before["snapshots"]) - set(after["snapshots"])
    assert len(old) == len(before["snapshots"]), "every snapshot from before compaction is older than 0 seconds"
    [expire] = steps_of(compacted_probe["report"], "expire_snapshots")
    assert expire["snapshots_expired"] >= len(old) and expire["files_removed"] > 0
    assert content(lake, compacted_probe["ident"]) == before["content"]
    with pytest.raises(Exception, match="(?i)snapshot"):
        lake.sql(f"SELECT count(*) FROM {compacted_probe['ident']} VERSION AS OF {before['snapshots'][0]}").collect()


def test_scheduled_mode_runs_on_its_interval_and_stops_on_sigterm(compacted_probe, tmp_path):
    config = maintenance_config(tmp_path, interval="5 seconds")
    app = dataclasses.replace(job.COMPACTION, args=(*job.COMPACTION.args, "--table", compacted_probe["name"]))
    log_file = job.app_process(SETTINGS, app).log_file
    start = log_file.stat().st_size if log_file.exists() else 0
    assert job.submit(SETTINGS, "local[1]", config, app=app).startswith("running")

    def reports():
        return read_events(log_file, "cdc_maintenance", start)

    try:
        deadline = time.monotonic() + 300
        while len(reports()) < 2 and time.monotonic() < deadline and job.app_process(SETTINGS, app).pid():
            time.sleep(2)
        assert len(reports()) >= 2, job.tail(SETTINGS, app)
    finally:
        outcome = job.stop(SETTINGS, app=app)
    assert outcome == "stopped", f"{outcome}\n{job.tail(SETTINGS, app)}"
    assert "scheduled maintenance stopped after" in job.tail(SETTINGS, app)
    assert all(report["ok"] for report in reports())


def test_compaction_beside_the_streaming_job_loses_nothing(pipeline, lake, tmp_path):
    """Maintenance of the job's own tables while it applies a workload: commits race, are retried,
    and at the end MySQL = Iceberg current = PostgreSQL current."""
    stop = threading.Event()
    written = []

    def workload():
        with mysql_connect() as conn:
            written.append(RandomWorkload(seed=5).run(conn, changes=30000, seconds=600, rate=200,
                                                      should_stop=stop.is_set))

    thread = threading.Thread(target=workload, daemon=True)
    thread.start()
    try:
        # the stream is committing when compaction starts, and has left small files to compact
        wait_for(lambda: [] if small_changes_files(lake) >= 3 else ["fewer than 3 changes files"], 300,
                 "three batches of the workload in Iceberg")
        config = maintenance_config(tmp_path, min_input_files=2, delete_file_threshold=1,
                                    expire_older_than="0 seconds", retain_last=5)
        code, report, output = run_compaction(config)
    finally:
        stop.set()
        thread.join(60)
    assert written and written[0] > 1000, written
    assert job_alive(), f"the streaming job died during compaction:\n{job_log_tail()}"
    assert code == 0 and report["ok"], output[-6000:]
    rewritten = sum(s["files_rewritten"] for s in steps_of(report, "rewrite_data_files"))
    assert rewritten > 0, report
    wait_converged(lake, timeout=300)
    assert check_sinks(lake) == []
    assert "query failed" not in job_log_tail()


def _batches(log: Path, offset: int, query: str) -> list[dict]:
    """The job log's cdc_batch records of one query (path) from `offset` on."""
    return [b for b in read_events(log, "cdc_batch", offset) if b.get("query") == query]


def test_a_replayed_batch_whose_snapshots_expired_adds_nothing_twice(pipeline, lake):
    """The Iceberg path's ledger is its snapshot summaries. Maintenance may expire every snapshot that
    carries a batch id; Spark then replays the batch it had not recorded as done, and the change log's
    high-water mark and the MERGE's sequence guard must still keep every change once."""
    from cdc_pipeline.verify_readers import iceberg_history_duplicates
    from cdc_pipeline.vocabulary import BATCH_ID_PROP, QUERY_ID_PROP, changes_table, current_table

    with mysql_connect() as conn, conn.cursor() as cur:
        ids = []
        for i in range(150):
            cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                        (i % 7 + 1, f"replay-{uuid.uuid4().hex[:8]}", i))
            ids.append(cur.lastrowid)
        for account_id in ids[:60]:
            cur.execute("UPDATE bank_accounts SET balance = balance + 1 WHERE id = %s", (account_id,))
        cur.execute(f"DELETE FROM bank_accounts WHERE id IN ({', '.join(map(str, ids[60:90]))})")
    wait_converged(lake, timeout=300)
    assert job.stop(SETTINGS) == "stopped"

    checkpoint = REPO_ROOT / CONFIG.job.checkpoint_location / "iceberg"
    query_id = json.loads((checkpoint / "metadata").read_text())["id"]
    last = max(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    # A crash after the sinks committed batch `last` and before Spark recorded it: Spark replays it.
    for name in (str(last), f".{last}.crc"):
        (checkpoint / "commits" / name).unlink(missing_ok=True)

    catalog, namespace = CONFIG.iceberg.catalog_name, CONFIG.iceberg.namespace
    now = lake.sql("SELECT date_format(current_timestamp(), 'yyyy-MM-dd HH:mm:ss.SSS') AS t").first()["t"]
    tables = [n for t in CONFIG.tables for n in (changes_table(t.name), current_table(t.name))]
    for name in tables:
        # A rewrite puts a snapshot without batch properties on top; expiry then drops all the others.
        lake.sql(f"CALL {catalog}.system.rewrite_data_files(table => '{namespace}.{name}', "
                 "options => map('rewrite-all', 'true'))")
        lake.sql(f"CALL {catalog}.system.expire_snapshots(table => '{namespace}.{name}', "
                 f"older_than => TIMESTAMP '{now}', retain_last => 1)")
        marked = lake.sql(f"SELECT count(*) AS n FROM {catalog}.{namespace}.{name}.snapshots "
                          f"WHERE summary['{QUERY_ID_PROP}'] = '{query_id}' "
                          f"AND summary['{BATCH_ID_PROP}'] IS NOT NULL").first()["n"]
        assert marked == 0, f"{name} still has {marked} snapshot(s) carrying a batch id"

    log = job.job_process(SETTINGS).log_file
    seen = log.stat().st_size if log.exists() else 0
    query = f"{CONFIG.job.query_name}.iceberg"
    job.submit(SETTINGS, os.environ.get("MASTER", "local[2]"), CONFIG_PATH)

    def replayed() -> list[str]:
        batches = [b for b in _batches(log, seen, query) if b["batch_id"] == last]
        return [] if batches else [f"batch {last} of {query} not replayed yet"]

    wait_for(replayed, 300, f"the replay of Iceberg batch {last}")
    record = [b for b in _batches(log, seen, query) if b["batch_id"] == last][0]
    # its ledger is gone, so the batch is written again: the guards are what keeps it once
    assert record.get("iceberg") == "applied", record
    wait_converged(lake, timeout=300)
    for table_cfg in CONFIG.tables:
        count, keys = iceberg_history_duplicates(lake, CONFIG.iceberg, table_cfg)
        assert count == 0, f"{changes_table(table_cfg.name)} holds {count} change(s) twice, e.g. keys {keys}"
