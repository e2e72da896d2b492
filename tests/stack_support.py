"""Helpers for tests that talk to the running local stack (`make up`): connections, topic readers."""
from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from stack.services import service
from stack.settings import load_settings

SETTINGS = load_settings()
BANK_ACCOUNTS_TOPIC = "oltp.bankdb.bank_accounts"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def mysql_connect(database: str = "bankdb"):
    import pymysql
    return pymysql.connect(host=SETTINGS.host, port=SETTINGS.mysql_port, user=SETTINGS.mysql_user,
                           password=SETTINGS.mysql_password, database=database, autocommit=True)


def pg_connect(database: str | None = None):
    import psycopg2
    return psycopg2.connect(host=SETTINGS.host, port=SETTINGS.pg_port, user=SETTINGS.pg_user,
                            password=SETTINGS.pg_password, dbname=database or SETTINGS.pg_database)


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


def _json_payload(raw: bytes | None):
    return json.loads(raw)["payload"] if raw else None


def consume_until(topic: str, done, timeout: float, partitions: int | None = None,
                  keep=lambda r: True, decode=_json_payload, describe=lambda: "") -> list[Received]:
    """Read `topic` from the beginning of every partition until `done(received)` holds.

    Fails with what it saw (and `describe()`) when `timeout` passes first. Reading from the beginning (instead of
    "latest") keeps the helper correct on Tansu, whose ListOffsets answer can be short.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    if partitions is None:
        meta = AdminClient(kafka_config()).list_topics(topic, timeout=10)
        partitions = len(meta.topics[topic].partitions)
    consumer = Consumer(kafka_config(**{"group.id": unique("test-reader"), "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    received: list[Received] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    continue
                rec = Received(msg.partition(), msg.offset(), decode(msg.key()), decode(msg.value()),
                               time.monotonic())
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
    for name in ("mysql", "postgres", "seaweedfs", "kafka", "connect"):
        service(SETTINGS, name).start()
