"""A change committed in MySQL arrives on Kafka as a Debezium change event, with the right images."""
import random
import time
from decimal import Decimal

import pytest

from stack_support import BANK_ACCOUNTS_TOPIC, consume_until, decode_decimal, end_offsets, mysql_connect

pytestmark = pytest.mark.integration


def test_insert_update_delete_produce_c_u_d_and_tombstone():
    user_id = random.randint(10**9, 2 * 10**9)
    start = end_offsets(BANK_ACCOUNTS_TOPIC)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                    (user_id, "Test Bank 123-456-789", Decimal("100.25")))
        row_id = cur.lastrowid
        cur.execute("UPDATE bank_accounts SET account = %s, balance = %s WHERE id = %s",
                    ("Updated Bank 987-654-321", Decimal("-7.50"), row_id))
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (row_id,))
        committed = time.monotonic()

    def complete(events):
        return len(events) >= 4  # c, u, d, tombstone

    events = consume_until(BANK_ACCOUNTS_TOPIC, complete, timeout=10, start=start,
                           keep=lambda r: r.key == {"id": row_id})
    assert max(e.received_at for e in events) - committed <= 10
    assert [e.value["op"] if e.value else None for e in events] == ["c", "u", "d", None]
    assert len({e.partition for e in events}) == 1, "one key must stay in one partition"
    assert [e.offset for e in events] == sorted(e.offset for e in events)

    create, update, delete = (e.value for e in events[:3])
    assert create["before"] is None
    assert create["after"]["user_id"] == user_id
    assert create["after"]["account"] == "Test Bank 123-456-789"
    assert decode_decimal(create["after"]["balance"], 2) == Decimal("100.25")

    assert update["before"]["account"] == "Test Bank 123-456-789"
    assert decode_decimal(update["before"]["balance"], 2) == Decimal("100.25")
    assert update["after"]["account"] == "Updated Bank 987-654-321"
    assert decode_decimal(update["after"]["balance"], 2) == Decimal("-7.50")

    assert delete["after"] is None
    assert delete["before"]["account"] == "Updated Bank 987-654-321"
    assert decode_decimal(delete["before"]["balance"], 2) == Decimal("-7.50")

    # The binlog coordinates order the three changes: this is what the job's sequence is built on.
    positions = [(e["source"]["file"], e["source"]["pos"], e["source"]["row"]) for e in (create, update, delete)]
    assert positions == sorted(positions) and len(set(positions)) == 3
