"""Bad records go to the dead letters and the stream goes on; a new MySQL column reaches both sinks;
a driver killed in the middle of a batch restarts with nothing lost and nothing applied twice."""
import json
import os
import random
import signal
import threading
import time
import uuid
from decimal import Decimal

import pytest
import requests
from confluent_kafka import Producer

from cdc_pipeline.supervisor import read_status
from pipeline_support import CONFIG, check_sinks, job_alive, pg_rows, start_job, wait_converged, wait_for
from stack import job
from stack.settings import REPO_ROOT
from stack.process import is_alive
from stack_support import BANK_ACCOUNTS_TOPIC, SETTINGS, kafka_config, mysql_connect

pytestmark = pytest.mark.integration


def envelope(op, after, id_optional=False):
    """A Debezium-shaped value for bank_accounts, with a row image we choose."""
    fields = [{"type": "int64", "optional": id_optional, "field": "id"},
              {"type": "int64", "optional": False, "field": "user_id"},
              {"type": "string", "optional": False, "field": "account"}]
    row_schema = {"type": "struct", "optional": True, "fields": fields}
    return json.dumps({
        "schema": {"type": "struct", "fields": [dict(row_schema, field="before"), dict(row_schema, field="after")]},
        "payload": {"before": None, "after": after, "op": op, "ts_ms": 1,
                    "source": {"db": "bankdb", "table": "bank_accounts", "ts_ms": 1,
                               "file": "mysql-bin.000001", "pos": 4, "row": 0}}}).encode()


def test_bad_records_go_to_dead_letters_and_the_stream_goes_on(pipeline, lake):
    marker = f"bad-{uuid.uuid4().hex[:8]}"
    bad = {  # expected error_kind -> raw value
        "malformed_json": b'{"schema": {"type": "struct"}, "payload": {not json ' + marker.encode(),
        "unknown_op": envelope("x", {"id": 1, "user_id": 1, "account": marker}),
        "missing_key": envelope("c", {"id": None, "user_id": 1, "account": marker}, id_optional=True),
        "type_mismatch": envelope("c", {"id": "not-a-number", "user_id": 1, "account": marker}),
    }
    producer = Producer(kafka_config(**{"acks": "all"}))
    for value in bad.values():
        producer.produce(BANK_ACCOUNTS_TOPIC, key=None, value=value)
    empty_key = json.dumps({"id": marker}).encode()  # an empty value, not a (null) tombstone
    producer.produce(BANK_ACCOUNTS_TOPIC, key=empty_key, value=b"")
    assert producer.flush(15) == 0

    with mysql_connect() as conn, conn.cursor() as cur:  # a good change after the bad ones
        cur.execute("INSERT INTO bank_accounts (user_id, account) VALUES (1, %s)", (f"after-{marker}",))
        good_id = cur.lastrowid

    def dead_letters():
        return pg_rows("SELECT error_kind, reason, kafka_value FROM cdc_dead_letters "
                       "WHERE position(convert_to(%s, 'UTF8') IN kafka_value) > 0", (marker,))

    def landed():
        rows = dead_letters()
        problems = [] if len(rows) == len(bad) else [f"dead letters so far: {[r[:2] for r in rows]}"]
        if not pg_rows("SELECT 1 FROM bank_accounts_current WHERE id = %s", (good_id,)):
            problems.append("the good change after them has not arrived")
        if not pg_rows("SELECT 1 FROM cdc_dead_letters WHERE kafka_key = %s AND error_kind = 'empty_value' "
                       "AND kafka_value = ''::bytea", (empty_key,)):
            problems.append("the empty value is not a dead letter")
        return problems

    wait_for(landed, 120, "bad records in cdc_dead_letters")
    by_value = {bytes(value): (kind, reason) for kind, reason, value in dead_letters()}
    for expected_kind, value in bad.items():
        kind, reason = by_value[value]
        assert kind == expected_kind, (expected_kind, kind, reason)
        assert reason, "a dead letter needs a reason"
    assert job_alive()


def test_new_mysql_column_reaches_both_sinks(pipeline, lake):
    column = f"note_{uuid.uuid4().hex[:6]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE transactions ADD COLUMN {column} VARCHAR(40) NULL")
        cur.execute(f"INSERT INTO transactions (account_id, amount, txn_type, booking_date, {column}) "
                    "VALUES (1, 12.34, 'FEE', '2026-01-02', 'hello')")
        txn_id = cur.lastrowid

    def arrived():
        problems = []
        try:
            pg = pg_rows(f'SELECT "{column}" FROM transactions_current WHERE id = %s', (txn_id,))
        except Exception as err:  # the column does not exist yet
            pg = repr(err).splitlines()[0]
        if pg != [("hello",)]:
            problems.append(f"postgres: {pg}")
        try:
            ice = lake.sql(f"SELECT {column} FROM lake.cdc.transactions_current WHERE id = {txn_id}").collect()
            ice = [tuple(r) for r in ice]
        except Exception as err:
            ice = repr(err).splitlines()[0][:200]
        if ice != [("hello",)]:
            problems.append(f"iceberg: {ice}")
        return problems

    wait_for(arrived, 180, f"column {column} in both sinks")
    wait_converged(lake, tables={"transactions"})


def _spark_ui() -> str:
    """The job's own UI (4040 unless another Spark app took it first), from its status file."""
    from urllib.parse import urlsplit
    path = CONFIG.job.status_file
    status = read_status(path if os.path.isabs(path) else REPO_ROOT / path) or {}
    port = urlsplit(status.get("spark_ui") or "http://x:4040").port
    return f"http://{SETTINGS.host}:{port}"


def _running_spark_jobs() -> int:
    try:
        ui = _spark_ui()
        apps = requests.get(f"{ui}/api/v1/applications", timeout=2).json()
        jobs = requests.get(f"{ui}/api/v1/applications/{apps[0]['id']}/jobs",
                            params={"status": "running"}, timeout=2).json()
        return len(jobs)
    except (requests.RequestException, ValueError, IndexError, KeyError):
        return 0


def test_driver_killed_mid_batch_restarts_exactly_once(pipeline, lake):
    stop = threading.Event()
    errors = []

    def workload():
        rng = random.Random()
        try:
            with mysql_connect() as conn, conn.cursor() as cur:
                for i in range(4000):
                    if stop.is_set():
                        return
                    cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                                (rng.randint(1, 50), f"kill-{i}", Decimal(rng.randint(0, 10**6)) / 100))
                    cur.execute("UPDATE bank_accounts SET balance = balance + 1 WHERE id = %s", (cur.lastrowid,))
                    time.sleep(0.005)
        except Exception as err:
            errors.append(err)

    writer = threading.Thread(target=workload, daemon=True)
    writer.start()
    proc = job.job_process(SETTINGS)
    jvm = proc.pid()
    assert jvm is not None
    deadline = time.monotonic() + 90
    running = 0
    while running == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        running = _running_spark_jobs()
    assert running > 0, "no micro-batch was seen running"
    driver = job._python_driver_of(jvm, job.STREAM.script)
    os.kill(jvm, signal.SIGKILL)
    if driver:
        os.kill(driver, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while is_alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_alive(jvm)
    proc.pid_file.unlink(missing_ok=True)

    start_job()  # the workload keeps writing while the job is down and starting
    stop.set()
    writer.join(timeout=60)
    assert not errors, errors
    wait_converged(lake, timeout=300)
    assert check_sinks(lake) == []


def test_a_mysql_column_named_like_a_pipeline_column_is_stored_renamed(pipeline, lake):
    """MySQL's `_op` would collide with the pipeline's own `_op`: both sinks store it as `src_op`, the
    stream keeps going, and `make verify`'s comparison maps the name."""
    marker = f"mine-{uuid.uuid4().hex[:8]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE transactions ADD COLUMN IF NOT EXISTS `_op` VARCHAR(40) NULL")
        cur.execute("INSERT INTO transactions (account_id, amount, txn_type, booking_date, `_op`) "
                    "VALUES (1, 1.00, 'FEE', '2026-01-03', %s)", (marker,))
        txn_id = cur.lastrowid

    def arrived():
        problems = []
        try:
            pg = pg_rows("SELECT src_op, _op FROM transactions_current WHERE id = %s", (txn_id,))
        except Exception as err:  # the column does not exist yet
            pg = repr(err).splitlines()[0]
        if pg != [(marker, "c")]:
            problems.append(f"postgres: {pg}")
        try:
            ice = [tuple(r) for r in lake.sql(f"SELECT src_op, _op FROM lake.cdc.transactions_current "
                                              f"WHERE id = {txn_id}").collect()]
        except Exception as err:
            ice = repr(err).splitlines()[0][:200]
        if ice != [(marker, "c")]:
            problems.append(f"iceberg: {ice}")
        return problems

    wait_for(arrived, 180, "column _op as src_op in both sinks")
    wait_converged(lake, tables={"transactions"})


ODD_COLUMNS = ('we"ird', "back`tick", "semi;colon", "two words", "dot.ted", "é" * 40)  # the last: 80 bytes


def test_columns_with_odd_or_long_names_reach_both_sinks(pipeline, lake):
    """MySQL allows quotes, backticks, semicolons, spaces and dots in column names, and 64 characters
    (more bytes than PostgreSQL's 63-byte identifiers): every such column reaches both sinks, and `make
    verify` finds the values under the names the sinks store them as."""
    def mysql_ident(name):
        return "`" + name.replace("`", "``") + "`"

    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE transactions "
                    + ", ".join(f"ADD COLUMN IF NOT EXISTS {mysql_ident(c)} VARCHAR(20) NULL" for c in ODD_COLUMNS))
        cur.execute(f"INSERT INTO transactions (account_id, amount, txn_type, booking_date, "
                    f"{', '.join(mysql_ident(c) for c in ODD_COLUMNS)}) VALUES (1, 2.00, 'FEE', '2026-01-04', "
                    f"{', '.join(['%s'] * len(ODD_COLUMNS))})", [f"v{i}'; --" for i in range(len(ODD_COLUMNS))])
        txn_id = cur.lastrowid
        cur.execute(f"UPDATE transactions SET {mysql_ident(ODD_COLUMNS[0])} = 'updated' WHERE id = %s", (txn_id,))
    wait_converged(lake, timeout=240, tables={"transactions"})
    assert job_alive()


def test_a_nul_character_from_mysql_is_a_dead_letter_and_the_row_heals_on_its_next_update(pipeline, lake):
    """PostgreSQL text cannot hold U+0000, MySQL's VARCHAR can: the change goes to the dead letters with
    the reason (both sinks skip it), and the row's next update (whose before image holds the NUL) lands."""
    marker = f"nul-{uuid.uuid4().hex[:8]}"
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account) VALUES (1, %s)", (f"a\x00b {marker}",))
        account_id = cur.lastrowid

    def dead_letter():
        rows = pg_rows("SELECT error_kind, reason FROM cdc_dead_letters "
                       "WHERE position(convert_to(%s, 'UTF8') IN kafka_value) > 0", (marker,))
        return [] if rows else ["no dead letter yet"]

    wait_for(dead_letter, 120, "the NUL change in cdc_dead_letters")
    [(kind, reason)] = pg_rows("SELECT error_kind, reason FROM cdc_dead_letters "
                               "WHERE position(convert_to(%s, 'UTF8') IN kafka_value) > 0", (marker,))
    assert kind == "unstorable_value" and "column(s) account hold a NUL character" in reason, reason
    assert job_alive()
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE bank_accounts SET account = %s WHERE id = %s", (f"clean {marker}", account_id))
    wait_for(lambda: [] if pg_rows("SELECT account FROM bank_accounts_current WHERE id = %s", (account_id,))
             == [(f"clean {marker}",)] else ["the update has not arrived"], 120, "the clean update in PostgreSQL")
    [(before,)] = pg_rows("SELECT _before ->> 'account' FROM bank_accounts_history WHERE id = %s AND _op = 'u'",
                          (account_id,))
    assert before == f"a\ufffdb {marker}"
    wait_converged(lake, tables={"bank_accounts"})


def test_a_widened_balance_widens_the_stats_table_too(pipeline, lake):
    """MySQL widens bank_accounts.balance and stores a value the old precision cannot hold: the sink
    tables widen, and so do the statistics' min/max/total columns (they would overflow otherwise)."""
    big = Decimal("123456789012345678901.25")  # 21 integer digits: beyond DECIMAL(18,2)
    user_id = random.randint(10**12, 10**13)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE bank_accounts MODIFY balance DECIMAL(30,2) NOT NULL DEFAULT 0.00")
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                    (user_id, f"wide-{user_id}", big))

    def arrived():
        rows = pg_rows("SELECT max_balance, total_balance FROM user_account_stats WHERE user_id = %s", (user_id,))
        return [] if rows == [(big, big)] else [f"stats so far: {rows}"]

    wait_for(arrived, 180, "the widened balance in user_account_stats")
    assert job_alive()
    wait_converged(lake, tables={"bank_accounts"})
