"""The streaming job applies MySQL changes to Iceberg and PostgreSQL, exactly, per key and in order."""
import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from confluent_kafka import Producer

from pipeline_support import check_sinks, pg_rows, wait_converged, wait_for
from stack.workload import RandomWorkload
from stack_support import BANK_ACCOUNTS_TOPIC, consume_until, end_offsets, kafka_config, mysql_connect, unique

pytestmark = pytest.mark.integration


def iceberg_row(lake, table: str, row_id: int):
    """The row, or None (also while the job has not created the table yet)."""
    if not lake.catalog.tableExists(f"lake.cdc.{table}"):
        return None
    rows = lake.sql(f"SELECT * FROM lake.cdc.{table} WHERE id = {row_id}").collect()
    return rows[0].asDict() if rows else None


def test_insert_update_delete_reach_both_sinks_exactly(pipeline, lake):
    user_id = random.randint(7 * 10**9, 8 * 10**9)
    created = datetime(2025, 3, 4, 5, 6, 7, 891011)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance, created_at) VALUES (%s, %s, %s, %s)",
                    (user_id, "exact-1", Decimal("1234567890123456.78"), created))
        row_id = cur.lastrowid
        cur.execute("UPDATE bank_accounts SET balance = %s, account = 'exact-2' WHERE id = %s",
                    (Decimal("-0.01"), row_id))
        cur.execute("SELECT updated_at FROM bank_accounts WHERE id = %s", (row_id,))
        updated_at = cur.fetchone()[0].replace(tzinfo=timezone.utc)

    def applied():
        pg = pg_rows("SELECT account, balance, created_at, updated_at, user_id FROM bank_accounts_current "
                     "WHERE id = %s", (row_id,))
        ice = iceberg_row(lake, "bank_accounts_current", row_id)
        problems = []
        if pg != [("exact-2", Decimal("-0.01"), created, updated_at, user_id)]:
            problems.append(f"postgres: {pg}")
        if not ice or (ice["account"], ice["balance"], ice["created_at"]) != ("exact-2", Decimal("-0.01"), created):
            problems.append(f"iceberg: {ice}")
        return problems

    wait_for(applied, 120, f"account {row_id} updated in both sinks")
    stats = pg_rows("SELECT account_count, total_balance FROM user_account_stats WHERE user_id = %s", (user_id,))
    assert stats == [(1, Decimal("-0.01"))]

    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (row_id,))

    def deleted():
        problems = []
        if pg_rows("SELECT 1 FROM bank_accounts_current WHERE id = %s", (row_id,)):
            problems.append("still in postgres")
        if iceberg_row(lake, "bank_accounts_current", row_id):
            problems.append("still in iceberg")
        if pg_rows("SELECT 1 FROM user_account_stats WHERE user_id = %s", (user_id,)):
            problems.append("stats row of a user without accounts")
        return problems

    wait_for(deleted, 120, f"account {row_id} deleted from both sinks")
    history = pg_rows("SELECT _change_type, account, balance, _before->>'account' FROM bank_accounts_history "
                      "WHERE id = %s ORDER BY _seq", (row_id,))
    assert history == [("INSERT", "exact-1", Decimal("1234567890123456.78"), None),
                       ("UPDATE", "exact-2", Decimal("-0.01"), "exact-1"),
                       ("DELETE", "exact-2", Decimal("-0.01"), "exact-2")]
    changes = lake.sql(f"SELECT _op, account FROM lake.cdc.bank_accounts_changes WHERE id = {row_id} "
                       "ORDER BY _seq").collect()
    assert [(r._op, r.account) for r in changes] == [("c", "exact-1"), ("u", "exact-2"), ("d", "exact-2")]


def test_initial_snapshot_rows_are_loaded(pipeline, lake):
    """mysql-init's sample rows reach the sinks through Debezium's initial snapshot (op=r)."""
    def snapshot_loaded():
        rows = pg_rows("SELECT id, user_id, created_at FROM bank_accounts_history WHERE _op = 'r' ORDER BY id")
        expected = [(1, 1001, datetime(2024, 1, 5, 9, 12)), (2, 1001, datetime(2024, 2, 11, 14, 3, 21, 500000))]
        return [] if rows[:2] == expected else [f"snapshot rows: {rows[:3]}"]

    wait_for(snapshot_loaded, 120, "snapshot rows in history")
    ice = lake.sql("SELECT id, _op FROM lake.cdc.transactions_changes WHERE _op = 'r' ORDER BY id").collect()
    assert [r.id for r in ice][:5] == [1, 2, 3, 4, 5]


def test_random_workload_converges_row_for_row(pipeline, lake):
    """At least 5 000 mixed changes, many per key, across both tables."""
    with mysql_connect() as conn:
        assert RandomWorkload(seed=20261122).run(conn, changes=5200) >= 5200
    wait_converged(lake, timeout=300)
    assert check_sinks(lake) == []


def test_an_insert_sent_again_after_its_delete_does_not_bring_the_row_back(pipeline, lake):
    """Kafka Connect is at-least-once: after a crash it sends events again from its last committed
    offset, so an old insert can arrive after the row's delete was applied. Neither current table may
    show the row again (PostgreSQL checks its history, Iceberg its change log)."""
    start = end_offsets(BANK_ACCOUNTS_TOPIC)
    account = unique("resent")
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (7, %s, 1)", (account,))
        row_id = cur.lastrowid
    [insert] = consume_until(BANK_ACCOUNTS_TOPIC, lambda got: len(got) >= 1, 120, decode=lambda raw: raw,
                             keep=lambda r: r.value is not None and account.encode() in r.value, start=start)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (row_id,))
    # The paths apply at their own pace (PostgreSQL every trigger, Iceberg every commit interval).
    wait_for(lambda: [] if pg_rows("SELECT count(*) FROM bank_accounts_history WHERE id = %s AND _op = 'd'",
                                   (row_id,))[0][0] == 1 else ["delete not in the history yet"], 180, "the delete")
    wait_for(lambda: [] if iceberg_row(lake, "bank_accounts_current", row_id) is None
             else ["delete not in Iceberg yet"], 180, "the delete in Iceberg")

    producer = Producer(kafka_config(**{"acks": "all"}))
    producer.produce(BANK_ACCOUNTS_TOPIC, key=insert.key, value=insert.value, partition=insert.partition)
    assert producer.flush(15) == 0
    # A change committed after the re-sent insert was acknowledged: once it is applied, so is the insert
    # (every batch reads each partition to its end).
    later = unique("after-resent")
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (7, %s, 1)", (later,))
        later_id = cur.lastrowid
    wait_for(lambda: [] if pg_rows("SELECT 1 FROM bank_accounts_current WHERE id = %s", (later_id,))
             else ["the later insert not applied yet"], 180, "the change after the re-sent insert")
    wait_for(lambda: [] if iceberg_row(lake, "bank_accounts_current", later_id) is not None
             else ["the later insert not in Iceberg yet"], 180, "the change after the re-sent insert in Iceberg")

    assert pg_rows("SELECT * FROM bank_accounts_current WHERE id = %s", (row_id,)) == []
    assert iceberg_row(lake, "bank_accounts_current", row_id) is None
    assert check_sinks(lake, ["bank_accounts"]) == []
