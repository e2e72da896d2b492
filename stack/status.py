"""`make status`: one screen for the whole pipeline, from each component's own signals.

Services (process, port, health; the Debezium connector and its tasks), Debezium's snapshot while one
runs (per table: rows so far of the estimate, ETA), the streaming job (its
status file: state, last batch, rates, lag per topic, last error, restarts), the warehouse (last batch
applied, dead letters) and the lakehouse (latest snapshot per Iceberg table, read from the catalog
database and the table metadata on S3; no Spark needed). `--json` prints the same as one document.
"""
from __future__ import annotations

import json
import re
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from .job import app_process, COMPACTION, load_pipeline_config, STREAM
from .settings import REPO_ROOT, StackSettings

_JDBC_PG = re.compile(r"^jdbc:postgresql://([^:/]+)(?::(\d+))?/([^?]+)")


def resolve(path: str) -> Path:
    """A path from the config as the job sees it (it runs in the repository directory)."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def job_section(settings: StackSettings, config) -> dict:
    from cdc_pipeline.supervisor import read_status
    pid = app_process(settings, STREAM).pid()
    status = read_status(resolve(config.job.status_file)) or {}
    state = status.get("state") or "never started"
    if pid is None and state in ("starting", "running", "restarting", "stopping"):
        state = f"dead (last state {state}; no process)"
    if pid is not None and status.get("pid") is None:
        state = "starting"
    triggers = {p.sink: f"trigger {p.trigger_interval}" for p in config.sink_paths}
    if "iceberg" in triggers:
        triggers["iceberg"] = (f"commits every {config.iceberg.commit_interval} or "
                               f"{config.source.max_offsets_per_trigger} records")
    paths = {name: {**path, "trigger": triggers.get(name)} for name, path in (status.get("paths") or {}).items()}
    return {"state": state, "pid": pid, "query_name": config.job.query_name, "spark_ui": status.get("spark_ui"),
            "metrics": status.get("metrics_url"),
            "paths": paths,
            "last_error": status.get("last_error"), "restarts_in_a_row": status.get("restarts_in_a_row"),
            "restarts_total": status.get("restarts_total"), "next_restart_at": status.get("next_restart_at"),
            "updated_at": status.get("updated_at"), "max_restarts": config.job.max_restarts,
            "compaction": "running (scheduled)" if app_process(settings, COMPACTION).pid() else "not scheduled"}


def warehouse_section(config) -> dict:
    import psycopg2
    from cdc_pipeline.sinks.postgres_sql import dead_letter_counts_sql, last_batch_sql
    pg = config.postgres
    try:
        with closing(psycopg2.connect(**pg.connect_kwargs(), connect_timeout=3)) as conn, conn.cursor() as cur:
            cur.execute(last_batch_sql(pg.batch_table, pg.schema))
            row = cur.fetchone()
            cur.execute(dead_letter_counts_sql(pg.dead_letter_table, pg.schema))
            total, recent = cur.fetchone()
    except psycopg2.Error as err:
        return {"error": str(err).strip().splitlines()[0]}
    last = None if row is None else {"query_id": row[0], "batch_id": row[1], "rows_in": row[2],
                                     "dead_letters": row[3], "committed_at": row[4].isoformat()}
    return {"last_batch": last, "dead_letters_total": total, "dead_letters_24h": recent}


def lakehouse_section(config) -> dict:
    """Latest snapshot of each configured Iceberg table, from the JDBC catalog and the metadata file."""
    import boto3
    import psycopg2
    ice = config.iceberg
    match = _JDBC_PG.match(ice.catalog_uri)
    if match is None:
        return {"error": f"iceberg.catalog_uri {ice.catalog_uri!r} is not a PostgreSQL JDBC URL"}
    host, port, database = match.group(1), int(match.group(2) or 5432), match.group(3)
    wanted = [f"{t.name}_{kind}" for t in config.tables if "iceberg" in t.sinks for kind in ("current", "changes")]
    try:
        with closing(psycopg2.connect(host=host, port=port, dbname=database, user=ice.catalog_user,
                                      password=ice.catalog_password, connect_timeout=3)) as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name, metadata_location FROM iceberg_tables WHERE catalog_name = %s "
                        "AND table_namespace = %s AND table_name = ANY(%s)", (ice.catalog_name, ice.namespace, wanted))
            locations = dict(cur.fetchall())
    except psycopg2.Error as err:
        return {"error": str(err).strip().splitlines()[0]}
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=ice.s3_endpoint, aws_access_key_id=ice.s3_access_key,
                      aws_secret_access_key=ice.s3_secret_key, region_name=ice.s3_region,
                      config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}))
    tables = {}
    for name in wanted:
        location = locations.get(name)
        if location is None:
            tables[name] = {"state": "not created yet"}
            continue
        try:
            bucket, _, key = location.removeprefix("s3://").partition("/")
            metadata = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as err:  # noqa: BLE001 - S3 down or the file gone: shown, not fatal
            tables[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
            continue
        tables[name] = latest_snapshot(metadata)
    return {"tables": tables}


def latest_snapshot(metadata: dict) -> dict:
    current = metadata.get("current-snapshot-id")
    snapshots = {s.get("snapshot-id"): s for s in metadata.get("snapshots") or []}
    snap = snapshots.get(current)
    if snap is None:
        return {"snapshot_id": None, "snapshots": len(snapshots)}
    summary = snap.get("summary") or {}
    return {"snapshot_id": current, "committed_at": datetime.fromtimestamp(snap["timestamp-ms"] / 1000, timezone.utc)
            .isoformat(timespec="seconds"), "operation": summary.get("operation"),
            "batch_id": summary.get("cdc.batch-id"), "records": summary.get("total-records"),
            "data_files": summary.get("total-data-files"), "delete_files": summary.get("total-delete-files"),
            "snapshots": len(snapshots)}


def snapshot_progress(metrics: dict[str, float], done: dict[str, int], estimates: dict[str, int]) -> dict:
    """Debezium's snapshot as a person waits for it: running or not, tables left, and per table the
    records so far of MySQL's row estimate, with an ETA from the rate so far.

    `metrics`: the Connect agent's debezium_snapshot_* values (no prefix); `done`: records in each
    table's topic (during an initial snapshot the topic holds only the snapshot's rows); `estimates`:
    information_schema.TABLES.TABLE_ROWS (InnoDB's estimate, not a count)."""
    running = metrics.get("running", 0) >= 1
    out = {"running": running, "completed": metrics.get("completed", 0) >= 1,
           "tables_total": int(metrics.get("tables", 0)), "tables_remaining": int(metrics.get("remaining_tables", 0)),
           "seconds": metrics.get("duration_seconds", 0.0), "tables": {}}
    if not running:
        return out
    seconds = out["seconds"]
    rate = sum(done.values()) / seconds if seconds > 0 else 0.0
    for table, estimate in estimates.items():
        rows = done.get(table, 0)
        left = max(estimate - rows, 0)
        out["tables"][table] = {"rows": rows, "estimate": estimate,
                                "percent": min(100.0, 100.0 * rows / estimate) if estimate else None,
                                "eta_seconds": left / rate if rate > 0 and left else (0.0 if not left else None)}
    return out


def snapshot_section(settings: StackSettings, config) -> dict:
    """From Connect's JMX exporter (Debezium's snapshot MBean), the topics' offsets and MySQL's estimates."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families
    try:
        body = requests.get(settings.connect_metrics_url, timeout=3).text
    except requests.RequestException as err:
        return {"error": f"Connect's metrics at {settings.connect_metrics_url}: {type(err).__name__}"}
    server = config.tables[0].topic.split(".")[0] if config.tables else ""  # the connector's topic.prefix
    metrics = {s.name[len("debezium_snapshot_"):]: s.value for family in text_string_to_metric_families(body)
               for s in family.samples
               if s.name.startswith("debezium_snapshot_") and s.labels.get("server") == server}
    if metrics.get("running", 0) < 1:
        return snapshot_progress(metrics, {}, {})
    backfills = current_backfills(settings, metrics.get("duration_seconds", 0.0))
    try:
        configured = {t.topic for t in config.tables}
        backfills = {n: b for n, b in backfills.items() if b["topic"] in configured}
        if backfills:  # incremental snapshots (make add-table / resnapshot): records since the signal
            done = topic_records(settings, [b["topic"] for b in backfills.values()])
            return {**snapshot_progress(metrics, {n: done[b["topic"]] - b["baseline"] for n, b in backfills.items()},
                                        {n: b["estimate"] for n, b in backfills.items()}), "incremental": True}
        done = topic_records(settings, [t.topic for t in config.tables])
        estimates = _mysql_row_estimates(config, [t.topic for t in config.tables])
    except Exception as err:  # a status screen shows what it can
        return {**snapshot_progress(metrics, {}, {}), "error": f"{type(err).__name__}: {err}"}
    names = {t.topic: t.name for t in config.tables}
    return snapshot_progress(metrics, {names[t]: n for t, n in done.items()},
                             {names[t]: n for t, n in estimates.items()})


def backfills_file(settings: StackSettings) -> Path:
    """What make add-table / resnapshot asked Debezium to snapshot: per table its topic, the topic's
    records before the signal (baseline), MySQL's row count and when."""
    return settings.state_dir / "run" / "backfills.json"


def read_backfills(settings: StackSettings) -> dict[str, dict]:
    try:
        return json.loads(backfills_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def current_backfills(settings: StackSettings, snapshot_seconds: float) -> dict[str, dict]:
    """The backfills requested since the running snapshot began (older ones are done)."""
    recorded = read_backfills(settings)
    since = datetime.now(timezone.utc).timestamp() - snapshot_seconds - 10
    return {name: b for name, b in recorded.items() if b.get("requested_at", 0) >= since}


def topic_records(settings: StackSettings, topics: list[str]) -> dict[str, int]:
    from .topics import records
    return records(settings.kafka_bootstrap, topics, timeout=3)


def _mysql_row_estimates(config, topics: list[str]) -> dict[str, int]:
    import pymysql
    from cdc_pipeline.verify_readers import source_table_of
    conn = pymysql.connect(**config.mysql.connect_kwargs(), connect_timeout=3)
    try:
        with conn.cursor() as cur:
            out = {}
            for topic in topics:
                cur.execute("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                            "AND TABLE_NAME = %s", source_table_of(topic))
                row = cur.fetchone()
                out[topic] = int(row[0] or 0) if row else 0
            return out
    finally:
        conn.close()


def format_held(held: dict | None) -> str:
    """What the last batch held back for whole MySQL transactions (README: Transactions)."""
    if not held or "held_records" not in held:
        return "applied at offset boundaries (transactions.consistent: false)" if held is not None else "unknown"
    text = (f"whole only; {held['held_transactions']} held back ({held['incomplete_transactions']} incomplete), "
            f"{held['held_records']} record(s) to read again")
    if held.get("released_transactions"):
        text += f"; {held['released_transactions']} applied incomplete (timeout/size)"
    return text


def format_snapshot(snap: dict) -> list[str]:
    if "error" in snap and not snap.get("running"):
        return [f"SNAPSHOT  unknown: {snap['error']}"]
    if not snap["running"]:
        return ["SNAPSHOT  none running" + (" (this Connect run's snapshot completed)" if snap["completed"] else
                                            "") + "; the connector streams the binlog"]
    if snap.get("incremental"):
        lines = [f"SNAPSHOT  incremental (make add-table / resnapshot), running for {snap['seconds']:.0f} s "
                 "(rows so far = records added to the table's topic since it was requested, live changes "
                 "included, of MySQL's count then)"]
    else:
        lines = [f"SNAPSHOT  running for {snap['seconds']:.0f} s: {snap['tables_remaining']} of {snap['tables_total']} "
                 "table(s) left (rows so far = records in the table's topic, of MySQL's estimate)"]
    for name, t in snap["tables"].items():
        share = f" ({t['percent']:.0f} %)" if t["percent"] is not None else ""
        eta = "" if t["eta_seconds"] is None else f", ETA {t['eta_seconds']:.0f} s"
        lines.append(f"  {name:<28} {t['rows']:,} of ~{t['estimate']:,} rows{share}{eta}")
    if snap.get("error"):
        lines.append(f"  (per-table progress unavailable: {snap['error']})")
    return lines


def capture_agreement(configured: set[str], captured: set[str]) -> dict:
    """The pipeline config's tables (`<db>.<table>`) against the connector's table.include.list: a table
    only in the config never gets changes; one only captured sends its records to the dead letters."""
    return {"tables": len(configured | captured), "not_captured": sorted(configured - captured),
            "not_configured": sorted(captured - configured)}


def capture_section(settings: StackSettings, config) -> dict:
    import requests
    from cdc_pipeline.capture import included_tables
    from cdc_pipeline.verify_readers import source_table_of
    configured = {".".join(source_table_of(t.topic)) for t in config.tables}
    try:
        captured: set[str] = set()
        for name in requests.get(f"{settings.connect_url}/connectors", timeout=3).json():
            connector = requests.get(f"{settings.connect_url}/connectors/{name}/config", timeout=3).json()
            captured |= set(included_tables(connector))
    except (requests.RequestException, ValueError, AttributeError) as err:
        return {"error": f"Kafka Connect at {settings.connect_url}: {type(err).__name__}"}
    return capture_agreement(configured, captured)


def format_capture(capture: dict) -> list[str]:
    if "error" in capture:
        return [f"CAPTURE  unknown: {capture['error']}"]
    if not capture["not_captured"] and not capture["not_configured"]:
        return [f"CAPTURE  {capture['tables']} table(s); the config's tables: and the connector's include list agree"]
    lines = [f"CAPTURE  the config's tables: and the connector's include list differ (make add-table / remove-table "
             "change both)"]
    lines += [f"  {t:<28} under tables:, not captured by the connector: no change reaches the sinks"
              for t in capture["not_captured"]]
    lines += [f"  {t:<28} captured, not under tables:: its records go to the dead letters"
              for t in capture["not_configured"]]
    return lines


def pipeline_status(settings: StackSettings, config_path: Path) -> dict:
    config = load_pipeline_config(settings, config_path)
    return {"capture": capture_section(settings, config), "snapshot": snapshot_section(settings, config),
            "job": job_section(settings, config), "warehouse": warehouse_section(config),
            "lakehouse": lakehouse_section(config)}


def format_pipeline(status: dict) -> list[str]:
    job, wh, lake = status["job"], status["warehouse"], status["lakehouse"]
    lines = ["", *format_capture(status["capture"]), *format_snapshot(status["snapshot"]), "", f"STREAMING JOB  {job['query_name']}: {job['state'].upper()}"
             + (f"  (PID {job['pid']})" if job["pid"] else "")]
    if job.get("spark_ui"):
        lines.append(f"  Spark UI         {job['spark_ui']}/StreamingQuery/")
    if job.get("metrics"):
        lines.append(f"  metrics          {job['metrics']} (Spark's: {job.get('spark_ui') or ''}/metrics/prometheus)")
    for name, path in (job.get("paths") or {}).items():
        lines.append(f"  {name + ' path':<16} {path['query_name']}: {path['state'].upper()}"
                     + (f", {path['trigger']}" if path.get("trigger") else "")
                     + (f", {path['restarts_total']} restart(s)" if path.get("restarts_total") else ""))
        batch = path.get("last_batch")
        if batch:
            lag = batch.get("lag_per_topic") or {}
            lines.append(f"    last batch     #{batch['batch_id']} at {batch['timestamp']}: {batch['rows_in']} rows, "
                         f"{batch['input_rows_per_s']} rows/s in, {batch['processed_rows_per_s']} rows/s processed")
            lines.append("    lag            " + (", ".join(f"{t} {n}" for t, n in sorted(lag.items())) or "unknown"))
            lines.append("    transactions   " + format_held(batch.get("transactions")))
    if job.get("restarts_total"):
        lines.append(f"  restarts         {job['restarts_in_a_row']} in a row (max {job['max_restarts']}), "
                     f"{job['restarts_total']} in all" + (f"; next at {job['next_restart_at']}"
                                                           if job["state"] == "restarting" else ""))
    error = job.get("last_error")
    lines.append(f"  last error       {error['at']}: {error['message'][:300]}" if error else "  last error       none")
    lines.append(f"  compaction       {job['compaction']}")
    lines.append("")
    if "error" in wh:
        lines.append(f"WAREHOUSE  unreachable: {wh['error']}")
    else:
        last = wh["last_batch"]
        lines.append("WAREHOUSE  last batch applied: " + (
            f"#{last['batch_id']} at {last['committed_at']} ({last['rows_in']} rows)" if last else "none yet"))
        lines.append(f"  dead letters     {wh['dead_letters_total']} in all, {wh['dead_letters_24h']} in the last 24 h")
    lines.append("")
    if "error" in lake:
        lines.append(f"LAKEHOUSE  unreachable: {lake['error']}")
    else:
        lines.append("LAKEHOUSE  latest snapshot per table")
        for name, snap in lake["tables"].items():
            if "error" in snap or "state" in snap:
                lines.append(f"  {name:<28} {snap.get('error') or snap.get('state')}")
            elif snap.get("snapshot_id") is None:
                lines.append(f"  {name:<28} empty")
            else:
                lines.append(f"  {name:<28} {snap['committed_at']} {snap['operation']:<9} batch {snap['batch_id'] or '-':>6}"
                             f"  {snap['records']} rows, {snap['data_files']} data / {snap['delete_files']} delete files,"
                             f" {snap['snapshots']} snapshots")
    return lines


def job_ok(status: dict) -> bool:
    state = status["job"]["state"]
    return not (state == "permanently_failed" or state.startswith("dead"))
