"""Kafka Connect stopped or killed while MySQL takes writes loses nothing (duplicates are allowed here)."""
import random
import threading
import time

import pytest

from stack.services import service
from stack_support import BANK_ACCOUNTS_TOPIC, SETTINGS, consume_until, end_offsets, mysql_connect

pytestmark = pytest.mark.integration
MAX_ROWS = 20000
MAX_SECONDS = 180


class Writer(threading.Thread):
    """Inserts rows for one marker user, one transaction each, until told to stop (bounded)."""

    def __init__(self, user_id: int):
        super().__init__(daemon=True)
        self.user_id = user_id
        self.ids: list[int] = []
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            deadline = time.monotonic() + MAX_SECONDS
            with mysql_connect() as conn, conn.cursor() as cur:
                while not self.stop_event.is_set() and len(self.ids) < MAX_ROWS and time.monotonic() < deadline:
                    cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, 1.00)",
                                (self.user_id, f"restart-{len(self.ids)}"))
                    self.ids.append(cur.lastrowid)
                    time.sleep(0.01)
        except BaseException as err:  # surfaced by the test below
            self.error = err


def wait_rows(writer: Writer, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(writer.ids) < count and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.05)
    assert len(writer.ids) >= count, f"writer produced only {len(writer.ids)} rows (error: {writer.error!r})"


@pytest.mark.parametrize("how", ["graceful", "kill"])
def test_connect_restart_loses_no_change(how, restore_stack):
    connect = service(SETTINGS, "connect")
    writer = Writer(user_id=random.randint(3 * 10**9, 4 * 10**9))
    start = end_offsets(BANK_ACCOUNTS_TOPIC)
    writer.start()
    try:
        wait_rows(writer, 50)
        if how == "graceful":
            connect.stop()
        else:
            connect.kill()
        rows_at_stop = len(writer.ids)
        wait_rows(writer, rows_at_stop + 50)  # rows committed while Connect is down
        connect.start()  # waits for the connector and its task to be RUNNING
        wait_rows(writer, len(writer.ids) + 50)
    finally:
        writer.stop_event.set()
        writer.join(timeout=10)
    assert writer.error is None, writer.error
    expected = set(writer.ids)

    seen: set[int] = set()

    def keep(record):
        if record.value and record.value["op"] == "c" and record.value["after"]["user_id"] == writer.user_id:
            seen.add(record.value["after"]["id"])
        return False

    consume_until(BANK_ACCOUNTS_TOPIC, lambda _: expected <= seen, timeout=90, keep=keep, start=start,
                  describe=lambda: f"missing ids: {sorted(expected - seen)[:20]} of {len(expected)}")
