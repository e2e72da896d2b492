"""Helpers for tests that talk to the running local stack (`make up`): connections, topic readers."""
from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from stack import workload
from stack.services import all_services
from stack.settings import load_settings

SETTINGS = load_settings()
BANK_ACCOUNTS_TOPIC = "oltp.bankdb.bank_accounts"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def mysql_connect(database: str = "bankdb"):
    return workload.mysql_connect(SETTINGS, database)


def pg_connect(database: str | None = None):
    """As the pipeline's role (what the job and `make verify` log in as)."""
    import psycopg2
    return psycopg2.connect(host=SETTINGS.host, port=SETTINGS.pg_port, user=SETTINGS.pg_user,
                            password=SETTINGS.pg_password, dbname=database or SETTINGS.pg_database)


def pg_admin_connect(database: str | None = None):
    """As the administrator initdb created (a test that makes databases)."""
    import psycopg2
    return psycopg2.connect(host=SETTINGS.host, port=SETTINGS.pg_port, user=SETTINGS.pg_admin_user,
                            password=SETTINGS.pg_admin_password, dbname=database or SETTINGS.pg_database)


def kafka_config(**extra) -> dict:
    return {"bootstrap.servers": SETTINGS.kafka_bootstrap, "log_level": 3, **extra}


@dataclass
class Received:
    partition: int
    offset: int
    key: object
    value: object  # None = tombstone; a Debezium payload dict unless another `decode` was given
    received_at: float


def decode_decimal(encoded: str, scale: int) -> Decimal:
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


class Unreadable(Exception):
    """A record this reader cannot parse (e.g. the dead-letter tests' malformed events)."""


def _json_payload(raw: bytes | None):
    if not raw:
        return None
    try:
        return json.loads(raw)["payload"]
    except (ValueError, KeyError, TypeError) as err:
        raise Unreadable(str(err)) from None


def partition_count(topic: str) -> int:
    from confluent_kafka.admin import AdminClient
    return len(AdminClient(kafka_config()).list_topics(topic, timeout=10).topics[topic].partitions)


def end_offsets(topic: str) -> dict[int, int]:
    """The end (high watermark) of each partition of `topic`."""
    from stack.topics import end_offsets as topic_end_offsets
    ends = topic_end_offsets(SETTINGS.kafka_bootstrap, topic)
    assert ends, f"topic {topic} does not exist on {SETTINGS.kafka_bootstrap}"
    return ends


def consume_until(topic: str, done, timeout: float, partitions: int | None = None,
                  keep=lambda r: True, decode=_json_payload, describe=lambda: "",
                  start: dict[int, int] | None = None) -> list[Received]:
    """Read `topic` from `start` (partition -> offset; default: the beginning) until `done(received)` holds.

    Fails with what it saw (and `describe()`) when `timeout` passes first. Take `start` from end_offsets()
    before making the change you wait for.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    if partitions is None:
        partitions = partition_count(topic)
    start = start or {}
    consumer = Consumer(kafka_config(**{"group.id": unique("test-reader"), "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, start.get(p, OFFSET_BEGINNING)) for p in range(partitions)])
    received: list[Received] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    continue
                try:
                    rec = Received(msg.partition(), msg.offset(), decode(msg.key()), decode(msg.value()),
                                   time.monotonic())
                except Unreadable:
                    continue  # topics outlive test runs; records other tests made on purpose are not ours
                if keep(rec):
                    received.append(rec)
            if done(received):
                return received
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: condition not met after {timeout:.0f}s; kept {len(received)} "
                         f"events, last ones: {[(r.partition, r.offset, r.key) for r in received[-5:]]} "
                         f"{describe()}")


def ensure_stack_up() -> None:
    """Start whatever a test stopped; a no-op for running services."""
    for svc in all_services(SETTINGS):
        svc.start()
