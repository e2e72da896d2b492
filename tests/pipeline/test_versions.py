"""SCD type 2 in both sinks (<name>_versions): a key inserted, updated twice, deleted and inserted again
has its four versions, each ending where the next change began, and the README's as-of query answers
the state at any time, in PostgreSQL and in Iceberg alike."""
from __future__ import annotations

import time
import uuid
from datetime import timezone
from decimal import Decimal

import pytest

from pipeline_support import CONFIG, wait_converged, wait_for
from stack_support import mysql_connect, pg_connect

pytestmark = pytest.mark.integration

# The README's queries ("Versions and as-of queries"), with the time and the key as parameters.
PG_AS_OF = ("SELECT balance FROM bank_accounts_versions "
            "WHERE valid_from <= %(t)s AND (valid_to IS NULL OR valid_to > %(t)s) AND id = %(id)s")
LAKE_AS_OF = ("SELECT balance FROM {ident} "
              "WHERE valid_from <= TIMESTAMP '{t}' AND (valid_to IS NULL OR valid_to > TIMESTAMP '{t}') AND id = {id}")


def test_versions_and_as_of_answers_in_both_sinks(pipeline, lake):
    account = f"scd2-{uuid.uuid4().hex[:8]}"
    steps = [("INSERT INTO bank_accounts (user_id, account, balance) VALUES (77, %s, 100)", (account,)),
             ("UPDATE bank_accounts SET balance = 150 WHERE account = %s", (account,)),
             ("UPDATE bank_accounts SET balance = 175 WHERE account = %s", (account,)),
             ("DELETE FROM bank_accounts WHERE account = %s", (account,))]
    with mysql_connect() as conn, conn.cursor() as cur:
        for statement, params in steps:
            cur.execute(statement, params)
            if statement.startswith("INSERT"):
                key = cur.lastrowid
            time.sleep(1.1)  # the binlog's commit time has whole seconds: each version its own second
        cur.execute("INSERT INTO bank_accounts (id, user_id, account, balance) VALUES (%s, 77, %s, 300)", (key, account))
    wait_converged(lake, timeout=300)

    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT balance, opened_by, is_current, valid_from, valid_to FROM bank_accounts_versions "
                    "WHERE id = %s ORDER BY _seq", (key,))
        pg = cur.fetchall()
        cur.execute("SELECT _source_ts FROM bank_accounts_history WHERE id = %s AND _op = 'd'", (key,))
        (deleted_at,) = cur.fetchone()
    assert [(r[0], r[1], r[2]) for r in pg] == [(Decimal("100.00"), "c", False), (Decimal("150.00"), "u", False),
                                               (Decimal("175.00"), "u", False), (Decimal("300.00"), "c", True)], pg
    assert [r[4] for r in pg] == [pg[1][3], pg[2][3], deleted_at, None]  # each ends where the next change began
    assert pg[2][4] < pg[3][3]  # deleted in between: no version

    def pg_as_of(t):
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(PG_AS_OF, {"t": t, "id": key})
            return [r[0] for r in cur.fetchall()]

    for balance, _op, _current, valid_from, _valid_to in pg:
        assert pg_as_of(valid_from) == [balance]
    assert pg_as_of(deleted_at) == []  # the key did not exist then
    assert pg_as_of(pg[0][3].replace(year=2000)) == []

    ident = f"{CONFIG.iceberg.catalog_name}.{CONFIG.iceberg.namespace}.bank_accounts_versions"

    def lake_versions():
        rows = lake.sql(f"SELECT balance, opened_by, is_current, valid_from, valid_to FROM {ident} "
                        f"WHERE id = {int(key)} ORDER BY _seq").collect()
        return [] if len(rows) == 4 else [f"{len(rows)} Iceberg versions of id {key} so far"]

    wait_for(lake_versions, 180, "the Iceberg versions of the key")
    ice = [tuple(r) for r in lake.sql(f"SELECT balance, opened_by, is_current, valid_from, valid_to FROM {ident} "
                                      f"WHERE id = {int(key)} ORDER BY _seq").collect()]
    assert [(r[0], r[1], r[2]) for r in ice] == [(r[0], r[1], r[2]) for r in pg]
    # one clock, MySQL's commit time (Spark's session time zone is UTC: its timestamps come back naive)
    assert [r[3].replace(tzinfo=timezone.utc) for r in ice] == [r[3] for r in pg]
    for balance, _op, _current, valid_from, _valid_to in ice:
        t = valid_from.strftime("%Y-%m-%d %H:%M:%S.%f")
        assert [r[0] for r in lake.sql(LAKE_AS_OF.format(ident=ident, t=t, id=int(key))).collect()] == [balance]
