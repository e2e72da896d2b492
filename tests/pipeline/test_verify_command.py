"""`make verify` (jobs/verify.py) on the real stack: OK once the job has converged; a row changed or removed
behind the job's back in PostgreSQL, and a change held twice in a history, are reported by key."""
import json
import os
import random
import subprocess
import sys
from decimal import Decimal

import pytest

from pipeline_support import CONFIG, wait_converged
from stack.settings import REPO_ROOT
from stack_support import SETTINGS, mysql_connect, pg_connect

pytestmark = pytest.mark.integration


def run_verify(*args, env=None, timeout=900):
    """Run the command the way `make verify` does; returns (exit code, the JSON document, stderr)."""
    proc = subprocess.run([sys.executable, "jobs/verify.py", "--json", *args], cwd=REPO_ROOT,
                          env={**os.environ, **SETTINGS.env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    try:
        document = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"exit {proc.returncode}, stdout is not one JSON document:\n{proc.stdout}\n"
                             f"--- stderr ---\n{proc.stderr[-3000:]}") from None
    return proc.returncode, document, proc.stderr


def by_check(document) -> dict:
    return {(r["table"], r["sink"]): r for r in document["results"]}


def mysql_count(table_cfg) -> int:
    db, table = table_cfg.topic.split(".")[-2:]
    with mysql_connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{table}`")
        return cur.fetchone()[0]


def test_unreachable_mysql_is_an_error_not_a_mismatch():
    code, document, stderr = run_verify(env={"CDC_MYSQL_PORT": "1"}, timeout=120)
    assert code == 2, (document, stderr)
    assert document["status"] == "ERROR" and "cannot connect to MySQL at" in document["error"], document
    assert "verify: error: cannot connect to MySQL" in stderr


def test_verify_passes_then_names_exactly_the_tampered_keys(pipeline, lake):
    user_id = random.randint(8 * 10**9, 9 * 10**9)
    with mysql_connect() as conn, conn.cursor() as cur:
        ids = []
        for i in range(3):
            cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                        (user_id, f"verify-{i}", Decimal("100.00") + i))
            ids.append(cur.lastrowid)
        changed, removed, deleted = ids
        cur.execute("UPDATE bank_accounts SET balance = 12345.67, account = 'verify-updated' WHERE id = %s", (changed,))
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (deleted,))
        cur.execute("INSERT INTO transactions (account_id, amount, txn_type, description, booking_date) "
                    "VALUES (%s, -1.50, 'FEE', 'verify', '2026-02-03')", (changed,))
        cur.execute("UPDATE transactions SET is_reversal = TRUE WHERE id = %s", (cur.lastrowid,))

    wait_converged(lake, timeout=300)

    code, document, stderr = run_verify()
    assert code == 0, (document, stderr[-3000:])
    assert document["status"] == "OK" and document["ok"] is True
    checks = by_check(document)
    expected = {(t.name, sink) for t in CONFIG.tables for sink in t.sinks}
    assert set(checks) == expected
    for table_cfg in CONFIG.tables:
        rows = mysql_count(table_cfg)
        for sink in table_cfg.sinks:
            result = checks[(table_cfg.name, sink)]
            assert (result["status"], result["source_rows"], result["sink_rows"]) == ("OK", rows, rows), result
            for kind in ("missing", "extra", "different", "duplicate", "history_duplicates", "history_stale",
                         "history_missing", "versions_stale"):
                assert result[kind] == {"count": 0, "keys": []}, (kind, result)

    # Tamper with rows of this test only: one changed and one removed in PostgreSQL's current table, one
    # change of `changed` held twice in the history, the insert of `deleted` lost from the history (Kafka
    # and Iceberg still hold it). Whatever happens, put everything back.
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM bank_accounts_current WHERE id = %s", (removed,))
        removed_columns = [d[0] for d in cur.description]
        removed_row = cur.fetchone()
        cur.execute("SELECT balance FROM bank_accounts_current WHERE id = %s", (changed,))
        (balance,) = cur.fetchone()
    assert removed_row is not None and balance == Decimal("12345.67")
    duplicate_id = lost = None
    try:
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute("UPDATE bank_accounts_current SET balance = balance + 0.01 WHERE id = %s", (changed,))
            cur.execute("DELETE FROM bank_accounts_current WHERE id = %s", (removed,))
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                        "AND table_name = 'bank_accounts_history' AND is_generated = 'NEVER' "
                        "AND column_name NOT IN ('_history_id', '_kafka_offset') ORDER BY ordinal_position")
            copied = ", ".join(f'"{r[0]}"' for r in cur.fetchall())
            # Same key and _seq, another Kafka offset: the event-once constraint lets it in, verify must not.
            cur.execute(f"INSERT INTO bank_accounts_history ({copied}, _kafka_offset) "
                        f"SELECT {copied}, -1 - _kafka_offset FROM bank_accounts_history WHERE id = %s "
                        "ORDER BY _seq DESC LIMIT 1 RETURNING _history_id", (changed,))
            duplicate_id = cur.fetchone()[0]
            cur.execute("DELETE FROM bank_accounts_history WHERE id = %s AND _op = 'c' RETURNING *", (deleted,))
            lost = ([d[0] for d in cur.description], cur.fetchone())
            assert lost[1] is not None

        code, document, stderr = run_verify("--limit", "5")
        assert code == 1, (document, stderr[-3000:])
        assert document["status"] == "MISMATCH" and document["ok"] is False
        checks = by_check(document)
        pg = checks[("bank_accounts", "postgres")]
        assert pg["status"] == "MISMATCH" and pg["sink_rows"] == pg["source_rows"] - 1, pg
        assert pg["different"] == {"count": 1, "keys": [{"id": str(changed)}]}, pg
        assert pg["missing"] == {"count": 1, "keys": [{"id": str(removed)}]}, pg
        assert pg["extra"] == {"count": 0, "keys": []} and pg["duplicate"] == {"count": 0, "keys": []}, pg
        assert pg["history_duplicates"] == {"count": 1, "keys": [{"id": str(changed)}]}, pg
        # the removed row's latest change is an insert, yet it has no current row
        assert pg["history_stale"] == {"count": 1, "keys": [{"id": str(removed)}]}, pg
        # Kafka and the Iceberg change log hold the insert the history lost
        assert pg["history_missing"] == {"count": 1, "keys": [{"id": str(deleted)}]}, pg
        # bank_accounts_versions: the live version of `changed` has the old balance, `removed` has one
        # but no current row
        assert pg["versions_stale"] == {"count": 2, "keys": sorted([{"id": str(changed)}, {"id": str(removed)}],
                                                                   key=lambda k: int(k["id"]))}, pg
        others = {check: r["status"] for check, r in checks.items() if check != ("bank_accounts", "postgres")}
        assert set(others.values()) == {"OK"}, others
    finally:
        with pg_connect() as conn, conn.cursor() as cur:
            if duplicate_id is not None:
                cur.execute("DELETE FROM bank_accounts_history WHERE _history_id = %s", (duplicate_id,))
            if lost is not None:
                columns, row = lost
                from psycopg2.extras import Json
                writable = [(c, Json(v) if isinstance(v, (dict, list)) else v) for c, v in zip(columns, row)
                            if c not in ("_history_id", "_change_type")]  # generated
                cur.execute(f"INSERT INTO bank_accounts_history ({', '.join(f'{chr(34)}{c}{chr(34)}' for c, _ in writable)}) "
                            f"VALUES ({', '.join(['%s'] * len(writable))})", [v for _, v in writable])
            cur.execute("UPDATE bank_accounts_current SET balance = %s WHERE id = %s", (balance, changed))
            names = ", ".join(f'"{c}"' for c in removed_columns)
            cur.execute(f"INSERT INTO bank_accounts_current ({names}) "
                        f"VALUES ({', '.join(['%s'] * len(removed_columns))}) ON CONFLICT (id) DO NOTHING",
                        removed_row)
    wait_converged(lake, timeout=120)
