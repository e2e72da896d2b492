"""Operating the pipeline on real processes: alerts reach a webhook, a PostgreSQL outage heals by
itself with nothing lost or doubled, a query that keeps failing ends permanently failed and
`make status` says so."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
import yaml
from confluent_kafka import Producer

from pipeline_support import CONFIG, CONFIG_PATH, check_sinks, job_alive, job_log_tail, pg_rows, wait_converged
from stack.services import service
from stack.settings import REPO_ROOT
from stack.workload import RandomWorkload
from stack_support import BANK_ACCOUNTS_TOPIC, SETTINGS, kafka_config, mysql_connect
from cdc_pipeline.supervisor import read_status

pytestmark = pytest.mark.integration


def status_file() -> dict:
    path = CONFIG.job.status_file
    return read_status(path if os.path.isabs(path) else REPO_ROOT / path) or {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_letters_over_the_threshold_alert(pipeline, alert_receiver):
    marker = uuid.uuid4().hex[:10]
    producer = Producer(kafka_config(acks="all"))
    producer.produce(BANK_ACCOUNTS_TOPIC, key=b'{"id": 1}', value=f"not json {marker}".encode())
    assert producer.flush(15) == 0
    [alert] = alert_receiver.wait_for(lambda text: "dead letters" in text and "threshold 1" in text, 180,
                                      "dead letters")[-1:]
    assert alert["text"].startswith("[cdc-pipeline] dead letters: batch ")
    assert {f["title"] for f in alert["attachments"][0]["fields"]} == {"query", "batch"}


def test_a_failed_connector_task_alerts(pipeline, alert_receiver):
    """A real Debezium connector whose task fails at start (its schema history file cannot be created)."""
    name = f"alert-probe-{uuid.uuid4().hex[:6]}"
    config = {
        "connector.class": "io.debezium.connector.mysql.MySqlConnector", "tasks.max": "1",
        "database.hostname": SETTINGS.host, "database.port": str(SETTINGS.mysql_port),
        "database.user": SETTINGS.mysql_user, "database.password": SETTINGS.mysql_password,
        "database.server.id": str(190000 + os.getpid() % 9000), "topic.prefix": name.replace("-", "_"),
        "database.include.list": "bankdb", "table.include.list": "bankdb.bank_accounts", "snapshot.mode": "no_data",
        "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
        "schema.history.internal.file.filename": f"/proc/{name}/history.dat",
    }
    url = f"{SETTINGS.connect_url}/connectors/{name}"
    response = requests.put(f"{url}/config", json=config, timeout=60)
    assert response.status_code in (200, 201), response.text
    try:
        [alert] = alert_receiver.wait_for(lambda text: f"connector {name} task 0 is FAILED" in text, 180,
                                          f"{name} FAILED")[:1]
        assert alert["text"].startswith("[cdc-pipeline] connector failed: ")
        assert "history file" in alert["text"]
    finally:
        requests.delete(url, timeout=60)


def test_postgres_outage_heals_by_itself(pipeline, lake, alert_receiver):
    """PostgreSQL (the warehouse and the Iceberg catalog) stops during a workload and comes back: the
    supervisor restarts the failed query until it gets through, and nothing is lost or doubled."""
    before = status_file().get("restarts_total") or 0
    postgres = service(SETTINGS, "postgres")
    stop = threading.Event()
    written = []

    def workload():
        with mysql_connect() as conn:
            written.append(RandomWorkload(seed=11).run(conn, changes=20000, seconds=90, rate=100,
                                                       should_stop=stop.is_set))

    thread = threading.Thread(target=workload, daemon=True)
    thread.start()
    try:
        time.sleep(10)
        postgres.stop()
        deadline = time.monotonic() + 120
        while (status_file().get("restarts_total") or 0) <= before and time.monotonic() < deadline:
            time.sleep(1)
        restarted = (status_file().get("restarts_total") or 0) > before
        time.sleep(5)
    finally:
        postgres.start()
        stop.set()
        thread.join(120)
    assert restarted, f"the query did not fail and restart while PostgreSQL was down:\n{job_log_tail()}"
    assert written and written[0] > 500
    wait_converged(lake, timeout=420)
    assert check_sinks(lake) == []
    state = status_file()
    assert job_alive() and state["state"] == "running" and state["restarts_in_a_row"] == 0, state
    assert any(t.startswith("[cdc-pipeline] query failed:") for t in alert_receiver.texts())


def test_a_query_that_keeps_failing_ends_permanently_failed(pipeline, alert_receiver, tmp_path):
    """A second job whose warehouse port is closed: every batch fails; after max_restarts restarts
    it stops for good, alerts, and `make status` shows the state and the last error."""
    document = yaml.safe_load(CONFIG_PATH.read_text())
    query_name = f"failing-probe-{uuid.uuid4().hex[:6]}"
    document["postgres"]["port"] = free_port()
    document["job"].update(query_name=query_name, checkpoint_location=str(tmp_path / "checkpoint"),
                           max_restarts=2, restart_backoff_initial="1 second", restart_backoff_max="2 seconds")
    document["alerts"]["connect_url"] = ""
    config = tmp_path / "failing.yaml"
    config.write_text(yaml.safe_dump(document))
    env = {**os.environ, **SETTINGS.env(), "CDC_STATE_DIR": str(tmp_path / "state"),
           "CDC_ALERT_WEBHOOK_URL": alert_receiver.url, "CDC_ALERT_MIN_INTERVAL": "1 hour"}
    status_path = tmp_path / "state" / "run" / "cdc-stream.status.json"

    def stack(*args, check=True):
        done = subprocess.run([sys.executable, "-m", "stack", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    stack("submit", "--master", "local[1]", "--config", str(config))
    try:
        deadline = time.monotonic() + 300
        while (read_status(status_path) or {}).get("state") != "permanently_failed" and time.monotonic() < deadline:
            time.sleep(2)
        state = read_status(status_path) or {}
        log = (tmp_path / "state" / "logs" / "cdc-stream.log").read_text(errors="replace")
        assert state.get("state") == "permanently_failed", f"{state}\n{log[-5000:]}"
        failed = [p for p in state["paths"].values() if p["state"] == "permanently_failed"]
        assert failed and all(p["restarts_total"] == 2 for p in failed), state  # the others were stopped
        assert "cdc_query_permanently_failed after 2 restarts" in log
        shown = stack("status", "--config", str(config), "--json", check=False)
        assert shown.returncode == 1, shown.stdout
        job = json.loads(shown.stdout)["job"]
        assert job["state"] == "permanently_failed" and job["query_name"] == query_name
        assert "onnection" in job["last_error"]["message"], job["last_error"]  # "Connection refused"
        screen = stack("status", "--config", str(config), check=False).stdout
        assert f"STREAMING JOB  {query_name}: PERMANENTLY_FAILED" in screen and "last error" in screen
        texts = [t for t in alert_receiver.texts() if query_name in t]
        for path in (f"{query_name}.postgres", f"{query_name}.iceberg"):  # once per path per interval
            mine = [t for t in texts if f" {path} " in t]
            assert sum(t.startswith("[cdc-pipeline] query failed:") for t in mine) <= 1, texts
            assert sum(t.startswith("[cdc-pipeline] query permanently failed:") for t in mine) <= 1, texts
        assert any(t.startswith("[cdc-pipeline] query failed:") for t in texts), texts
        assert any(t.startswith("[cdc-pipeline] query permanently failed:") for t in texts), texts
    finally:
        stack("stop-job", check=False)


def test_a_postgres_crash_between_stage_and_apply_fails_the_batch_and_the_replay_lands_it(lake, restore_stack):
    """Staging tables are UNLOGGED: PostgreSQL's crash recovery empties them. A batch staged before an
    immediate shutdown (a crash: SIGQUIT) must not commit without its rows; its replay lands all."""
    import dataclasses
    import signal
    from datetime import datetime

    from unit.cdc_messages import synthetic
    from cdc_pipeline.config import TableConfig
    from cdc_pipeline.errors import StagingLostError
    from cdc_pipeline.plan import plan_batch
    from cdc_pipeline.sinks.postgres import PostgresSink
    from cdc_pipeline.sinks.postgres_sql import quote_ident
    from stack_support import pg_connect
    from pipeline_support import pg_rows

    name, topic, query_id = f"staging_crash_{uuid.uuid4().hex[:8]}", "t.shop.things", f"test-{uuid.uuid4()}"
    table = TableConfig(topic=topic, name=name, key_columns=("id",), sinks=("postgres",))
    config = dataclasses.replace(CONFIG, tables=(table,))
    fields = [{"type": "int64", "optional": False, "field": "id"}, {"type": "string", "optional": True, "field": "v"}]
    records = [synthetic(fields, {"id": i % 40, "v": f"v{i}"}, op="c" if i < 40 else "u", key={"id": i % 40},
                         source={"pos": 1000 + i, "row": 0}) for i in range(100)]
    frame = lake.createDataFrame(
        [(r["key"].encode(), r["value"].encode(), topic, i % 2, 100 + i, datetime(2026, 1, 1), 0) for i, r in enumerate(records)],
        "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp, timestampType int")
    planned = plan_batch(frame, 0, config, {})
    sink = PostgresSink(config)
    tables = planned.tables_for("postgres")
    try:
        copied = sink._stage(tables, 0, query_id)
        assert copied == {name: 100}
        postgres = service(SETTINGS, "postgres")
        assert postgres.proc.stop(signal.SIGQUIT, 30) == "stopped"  # immediate shutdown: crash recovery next
        postgres.start()
        with pytest.raises(StagingLostError, match="holds 0 of the 100 records"):
            sink._apply(query_id, planned, tables, copied)
        assert pg_rows(f"SELECT 1 FROM {quote_ident(CONFIG.postgres.batch_table)} WHERE query_id = %s",
                       (query_id,)) == []
        assert sink.write(planned, query_id).outcome == "applied"  # the replay
        assert pg_rows(f"SELECT count(*) FROM {quote_ident(name + '_history')}") == [(100,)]
        assert pg_rows(f"SELECT count(*), min(v), max(v) FROM {quote_ident(name + '_current')}") == [(40, "v60", "v99")]
    finally:
        planned.release()
        with pg_connect() as conn, conn.cursor() as cur:
            for suffix in ("_history", "_current"):  # CASCADE: the _versions view over the history
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(name + suffix)} CASCADE")
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident('cdc_stage_' + name)}")
            cur.execute(f"DELETE FROM {quote_ident(CONFIG.postgres.batch_table)} WHERE query_id = %s", (query_id,))


def test_no_secret_on_any_command_line_of_the_running_stack(pipeline):
    """`ps` shows every user every command line: the stack's and the job's secrets are not on one."""
    assert job_alive()
    lines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert any("cdc_stream.py" in line for line in lines), "the job's command line is not in ps"
    for name in ("pg_password", "pg_admin_password", "s3_secret_key", "mysql_password", "mysql_root_password"):
        secret = getattr(SETTINGS, name)
        shown = [line[:300] for line in lines if re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", line)]
        assert not shown, f"{name} is on a command line: {shown}"


def test_a_second_driver_on_the_same_checkpoints_is_refused(pipeline, lake):
    """A second `make submit` elsewhere (or a zombie driver) would run the same batches as the first:
    it must exit at start, say who holds the checkpoint, and leave the first one running. The first
    holds its lease even when its sessions end while it is idle (a PostgreSQL restart): it takes it
    back by itself, without waiting for a batch."""
    import signal

    from stack import job

    leases = f"{CONFIG.job.query_name}.%"

    def lease_sessions() -> int:
        return pg_rows("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s", (leases,))[0][0]

    def wait_for_leases(what: str) -> None:
        deadline = time.monotonic() + 60  # the job checks its leases every 5 s
        while lease_sessions() < len(CONFIG.sink_paths) and time.monotonic() < deadline:
            time.sleep(1)
        assert lease_sessions() == len(CONFIG.sink_paths), what

    wait_for_leases("the job does not hold its leases")  # an earlier test may just have restarted PostgreSQL
    terminated = pg_rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
                         (leases,))
    assert terminated and all(ok for (ok,) in terminated), terminated
    wait_for_leases("the idle job did not take its leases back")

    status_before = read_status(CONFIG.job.status_file)
    second = job.SparkApp("cdc-stream-second", job.STREAM.script, job.STREAM.ready_marker)
    proc = subprocess.Popen(job.submit_argv(SETTINGS, "local[1]", CONFIG_PATH, second), env=job._spark_env(SETTINGS),
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the second driver kept running on the first one's checkpoints:\n{output[-4000:]}")
    assert proc.returncode == 3, output[-4000:]
    assert "another driver runs on this checkpoint" in output and "PostgreSQL session" in output, output[-4000:]
    assert "cdc_query_started" not in output  # it never started a query
    assert job_alive(), job_log_tail()
    status_after = read_status(CONFIG.job.status_file)
    assert status_after["started_at"] == status_before["started_at"]  # the status file is the first driver's
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (3, %s, 1)",
                    (f"lease-{uuid.uuid4().hex[:8]}",))
    wait_converged(lake, timeout=180)


def test_a_mysql_truncate_is_a_dead_letter_and_an_alert_and_the_stream_goes_on(pipeline, lake, alert_receiver):
    """Debezium's own truncate event (op 't', the connector ships with skipped.operations=none): not
    applied (README: TRUNCATE), stored as a dead letter of kind `truncate`, alerted whatever the
    threshold. The table is emptied by DELETEs first, so the sinks still equal MySQL afterwards."""
    connector = service(SETTINGS, "connect")
    deployed = requests.get(f"{SETTINGS.connect_url}/connectors/{connector.connector_name}/config", timeout=30).json()
    assert deployed.get("skipped.operations") == "none", deployed
    topic = "oltp.bankdb.transactions"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM transactions")
    wait_converged(lake, timeout=300)
    before = pg_rows("SELECT count(*) FROM cdc_dead_letters WHERE error_kind = 'truncate'")[0][0]
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE TABLE transactions")
    [alert] = alert_receiver.wait_for(lambda text: "table truncated" in text and topic in text, 180, "the truncate alert")[-1:]
    assert "not applied" in alert["text"]
    rows = pg_rows("SELECT kafka_topic, reason, kafka_value IS NOT NULL FROM cdc_dead_letters "
                      "WHERE error_kind = 'truncate' ORDER BY dead_letter_id DESC LIMIT 1")
    assert pg_rows("SELECT count(*) FROM cdc_dead_letters WHERE error_kind = 'truncate'")[0][0] == before + 1
    assert rows[0][0] == topic and "bankdb.transactions: TRUNCATE TABLE in MySQL, not applied" in rows[0][1] and rows[0][2]
    with mysql_connect() as conn, conn.cursor() as cur:  # the stream goes on
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (4, %s, 2)",
                    (f"after-truncate-{uuid.uuid4().hex[:8]}",))
    wait_converged(lake, timeout=180)
    assert job_alive(), job_log_tail()



def test_the_job_writes_postgresql_as_a_role_that_owns_only_the_warehouse_tables(pipeline, lake):
    """Not the superuser initdb creates: a role the stack creates, that owns the warehouse tables (those
    the init SQL makes and those the job makes) and may do nothing an administrator does."""
    import psycopg2

    wait_converged(lake, timeout=300)  # every table the job makes exists

    role = CONFIG.postgres.user
    assert role != SETTINGS.pg_admin_user
    [attributes] = pg_rows("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                           "FROM pg_roles WHERE rolname = %s", (role,))
    assert attributes == (False, False, False, False, False), attributes
    # the job's sessions (its checkpoint leases name themselves after the query) log in as that role
    sessions = pg_rows("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name LIKE %s",
                       (f"{CONFIG.job.query_name}.%",))
    assert sessions == [(role,)], sessions
    owners = dict(pg_rows("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')"))
    for table in ("bank_accounts_history", "bank_accounts_current", "transactions_current", "user_account_stats",
                  "cdc_batches", "cdc_dead_letters", "cdc_sink_schemas"):
        assert owners.get(table) == role, (table, owners.get(table))
    assert {owner for owner in owners.values()} == {role}, owners
    [(database_owner,)] = pg_rows("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
    assert database_owner == SETTINGS.pg_admin_user
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        conn = psycopg2.connect(**CONFIG.postgres.connect_kwargs())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE cdc_should_not_exist")
        finally:
            conn.close()


def test_the_job_serves_prometheus_metrics_of_both_paths_and_spark_its_own(pipeline, lake):
    """What `make status` points to: the job's /metrics with a series per path that moves with a change,
    and Spark's PrometheusServlet on the UI's port."""
    from prometheus_client.parser import text_string_to_metric_families

    status = read_status(CONFIG.job.status_file)
    url = status.get("metrics_url")
    assert url == f"http://{CONFIG.job.metrics_host}:{CONFIG.job.metrics_port}/metrics", status

    def scrape() -> dict[tuple, float]:
        body = requests.get(url, timeout=10).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body) for s in family.samples}

    paths = [p.query_name for p in CONFIG.sink_paths]
    before = scrape()
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (5, %s, 3)",
                    (f"metrics-{uuid.uuid4().hex[:8]}",))
    wait_converged(lake, timeout=180)
    after = scrape()
    for query in paths:
        q = (("query", query),)
        assert after[("cdc_query_up", q)] == 1, query
        assert after[("cdc_last_batch_id", q)] >= before.get(("cdc_last_batch_id", q), -1), query
        assert after[("cdc_changes_total", (("op", "c"), ("query", query)))] > \
            before.get(("cdc_changes_total", (("op", "c"), ("query", query))), 0), query
        assert ("cdc_offsets_behind_latest", (("query", query), ("topic", BANK_ACCOUNTS_TOPIC))) in after, query
    shown = subprocess.run([sys.executable, "-m", "stack", "status"], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=120, env={**os.environ, **SETTINGS.env()}).stdout
    assert url in shown, shown[-2000:]
    spark_ui = status["spark_ui"].rstrip("/")
    spark_text = requests.get(f"{spark_ui}/metrics/prometheus", timeout=10).text
    assert "metrics_" in spark_text and "_driver_" in spark_text, spark_text[:500]


def test_the_job_log_is_one_json_object_per_line(pipeline, lake):
    """What `jq` reads: every line the running job wrote since its start (its Python records, its JVM's
    log4j lines, anything else wrapped by the log pipe) is a JSON object with time, level, logger and
    message, and its batches are `cdc_batch` records of both paths."""
    from cdc_pipeline.logs import parse_lines, record_time
    from stack import job

    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (6, %s, 4)",
                    (f"logs-{uuid.uuid4().hex[:8]}",))
    wait_converged(lake, timeout=180)
    text = job.job_process(SETTINGS).log_file.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if '"event": "process_start"' in line]
    assert starts, f"no process_start record in the job log:\n{text[-2000:]}"
    since_start = lines[starts[-1]:]
    not_json = [line for line in since_start if len(list(parse_lines(line))) != 1]
    assert not not_json, f"{len(not_json)} line(s) are not JSON objects, e.g. {not_json[:3]}"
    records = list(parse_lines("\n".join(since_start)))
    incomplete = [r for r in records if not {"time", "level", "logger", "message"} <= r.keys()
                  or record_time(r) is None]
    assert not incomplete, incomplete[:3]
    batches = [r for r in records if r.get("event") == "cdc_batch"]
    assert {r["query"] for r in batches} >= {p.query_name for p in CONFIG.sink_paths}, batches[-3:]
    assert all(isinstance(r["batch_id"], int) and r["rows_in"] >= 0 for r in batches)
