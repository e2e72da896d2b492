"""Transaction-consistent apply (README: Transactions): bank transfers - each one MySQL transaction of two
balance updates and two `transactions` rows, over two topics - run while the job is killed (SIGKILL)
twice and restarted, with small batches (`max_offsets_per_trigger`) so that batch ends cut through
transactions. A reader polling PostgreSQL, each poll in its own REPEATABLE READ transaction,
never sees the transfer accounts' balance sum other than MySQL's constant (or the accounts not there
yet: they were opened in one transaction too), nor their `transactions` rows summing to anything but
zero; every Iceberg snapshot of `bank_accounts_current` and `transactions_current` written meanwhile
holds the same. At the end both sinks equal MySQL. The gate must have held something back, or the
test proved nothing."""
from __future__ import annotations

import os
import random
import threading
import time
from decimal import Decimal

import pytest

from pipeline_support import CONFIG, check_sinks, job_log_tail, kill_job, pg_rows, start_job, wait_for
from stack.workload import TransferWorkload
from stack_support import mysql_connect, pg_connect

pytestmark = pytest.mark.integration

LIVE_SECONDS = 20  # of transfers before each kill
RATE = 200  # changes per second (50 transfers)
# Small batches, so that batch ends cut through transactions (a backlog after each kill is drained in
# several batches): the job runs with this until the last restart.
SMALL_BATCHES = "1500"
TABLES = ("bank_accounts", "transactions")


class Reader(threading.Thread):
    """Polls the warehouse in its own transactions (bounded in time) and keeps every state it saw."""

    def __init__(self, workload: TransferWorkload, seconds: float):
        super().__init__(daemon=True)
        self.workload, self.seconds = workload, seconds
        self.stop = threading.Event()
        self.states: list[tuple] = []
        self.error: Exception | None = None

    def run(self):
        deadline = time.monotonic() + self.seconds
        ids = list(self.workload.ids)
        try:
            with pg_connect() as conn:
                conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
                while not self.stop.is_set() and time.monotonic() < deadline:
                    with conn.cursor() as cur:
                        cur.execute("SELECT count(*), coalesce(sum(balance), 0) FROM bank_accounts_current "
                                    "WHERE user_id = %s", (self.workload.user_id,))
                        accounts = cur.fetchone()
                        cur.execute("SELECT count(*), coalesce(sum(amount), 0) FROM transactions_current "
                                    "WHERE account_id = ANY(%s)", (ids,))
                        rows = cur.fetchone()
                    conn.rollback()  # ends the snapshot: the next poll sees the next state
                    self.states.append((*accounts, *rows))
                    time.sleep(0.05)
        except Exception as err:  # noqa: BLE001 - a PostgreSQL that is down must not end the test silently
            self.error = err


def broken(states, workload: TransferWorkload) -> list[tuple]:
    """States that show part of a transaction: accounts not all there with the opening sum, or transfer
    rows that do not sum to zero (each transfer inserts -x and +x)."""
    whole = {(0, Decimal(0)), (workload.accounts, workload.total)}
    return [s for s in states if (s[0], Decimal(s[1])) not in whole or Decimal(s[3]) != 0 or s[2] % 2]


def iceberg_states(lake, since_ms: int, workload: TransferWorkload) -> list[tuple]:
    """(table, snapshot id, count, sum) of every snapshot of the two current tables committed since."""
    namespace = f"{CONFIG.iceberg.catalog_name}.{CONFIG.iceberg.namespace}"
    where = {"bank_accounts": (f"user_id = {workload.user_id}", "balance"),
             "transactions": (f"account_id IN ({', '.join(map(str, workload.ids))})", "amount")}
    states = []
    for table, (predicate, column) in where.items():
        snapshots = lake.sql(f"SELECT snapshot_id FROM {namespace}.{table}_current.snapshots "
                             f"WHERE committed_at >= timestamp_millis({since_ms}) ORDER BY committed_at").collect()
        for (snapshot,) in snapshots:
            count, total = lake.sql(f"SELECT count(*), coalesce(sum({column}), 0) FROM {namespace}.{table}_current "
                                    f"VERSION AS OF {snapshot} WHERE {predicate}").first()
            states.append((table, snapshot, count, Decimal(total)))
    return states


def restart_job(**environ) -> None:
    """SIGKILL the job and start it again (as `make submit` does) with these CDC_* variables set or,
    given None, unset."""
    kill_job()
    for name, value in environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    start_job()


def test_no_reader_ever_sees_half_a_transfer_across_kills(pipeline, lake, alert_receiver):
    started_ms = int(time.time() * 1000)
    alerts_before = len(alert_receiver.texts())
    workload = TransferWorkload(seed=random.randint(1, 10**6))
    with mysql_connect() as conn:
        workload.open(conn)
    reader = Reader(workload, seconds=600)
    try:
        # The shipped config (whole transactions on), small batches.
        restart_job(CDC_MAX_OFFSETS_PER_TRIGGER=SMALL_BATCHES)
        # The sink tables exist (a fresh stack's job makes them) and hold the accounts before the reader starts.
        wait_for(lambda: check_sinks(lake, TABLES), 300, "MySQL = Iceberg current = PostgreSQL current before the transfers")
        reader.start()
        stop = threading.Event()

        def transfers():
            with mysql_connect() as conn:
                workload.run(conn, seconds=300, rate=RATE, should_stop=stop.is_set)

        writer = threading.Thread(target=transfers, daemon=True)
        writer.start()
        time.sleep(LIVE_SECONDS)
        restart_job()  # kill 1, during the transfers: a backlog, drained in small batches after the restart
        time.sleep(LIVE_SECONDS)
        stop.set()
        writer.join(60)
        assert not writer.is_alive(), "the transfer workload did not stop"
        restart_job(CDC_MAX_OFFSETS_PER_TRIGGER=None)  # kill 2, in the middle of that; then the usual batches
        wait_for(lambda: check_sinks(lake, TABLES), 300, "MySQL = Iceberg current = PostgreSQL current")
    finally:
        reader.stop.set()
        # The shipped config again, for the tests after this one (unless kill 2 already restored it).
        if os.environ.get("CDC_MAX_OFFSETS_PER_TRIGGER") is not None:
            restart_job(CDC_MAX_OFFSETS_PER_TRIGGER=None)
    reader.join(30)
    assert reader.error is None, reader.error
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT sum(balance) FROM bank_accounts WHERE user_id = %s", (workload.user_id,))
        assert cur.fetchone()[0] == workload.total  # the workload itself keeps the sum

    assert len(reader.states) > 100, len(reader.states)
    assert (workload.accounts, workload.total) in {(s[0], Decimal(s[1])) for s in reader.states}
    assert broken(reader.states, workload) == [], f"PostgreSQL showed half a transfer: {broken(reader.states, workload)[:5]}"

    snapshots = iceberg_states(lake, started_ms, workload)
    assert len(snapshots) >= 2, snapshots
    whole = {("bank_accounts", 0, Decimal(0)), ("bank_accounts", workload.accounts, workload.total)}
    half = [s for s in snapshots if (s[0] == "bank_accounts" and (s[0], s[2], s[3]) not in whole)
            or (s[0] == "transactions" and (s[3] != 0 or s[2] % 2))]
    assert half == [], f"Iceberg snapshots with half a transfer: {half[:5]}"

    # The gate held transactions back (the batches did split them), and released none incomplete.
    [(held,)] = pg_rows("SELECT coalesce(max(held_records), 0) FROM cdc_held_tails "
                        "WHERE updated_at >= to_timestamp(%s / 1000.0)", (started_ms,))
    assert held > 0, "no batch held anything back: the test did not exercise the gate"
    released = [t for t in alert_receiver.texts()[alerts_before:] if "incomplete transactions applied" in t]
    assert released == [], released
    assert "incomplete MySQL transaction" not in job_log_tail()
