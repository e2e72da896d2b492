"""Fixtures for the Kafka source tests: one local Spark session, the stack's Kafka broker.

The broker is the local stack's (stack.settings: CDC_KAFKA_PORT, default 127.0.0.1:9092). Every test
makes its own topics (uuid in the name) and its own checkpoint directory, so tests do not see each other's data.
"""

import time
import uuid
from pathlib import Path

import pytest

from stack_support import SETTINGS

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kafka_bootstrap():
    return SETTINGS.kafka_bootstrap


@pytest.fixture(scope="session")
def spark():
    from cdc_pipeline.spark_session import build_session, s3a_conf

    s3a = s3a_conf(SETTINGS.s3_endpoint, SETTINGS.s3_access_key, SETTINGS.s3_secret_key, SETTINGS.s3_region)
    session = build_session(None, app_name="kafka-source-tests", master="local[2]",
                            extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", **s3a})
    session.sparkContext.setLogLevel("WARN")
    yield session
    for q in session.streams.active:
        q.stop()
    session.stop()


class KafkaHelper:
    """Topic creation and fast, batched production with confluent_kafka."""

    def __init__(self, bootstrap):
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.created = []

    def topic_name(self, prefix="ks"):
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def create_topic(self, name, partitions):
        from confluent_kafka.admin import NewTopic

        futures = self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        for f in futures.values():
            f.result(timeout=30)
        self.created.append(name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = self.admin.list_topics(topic=name, timeout=10)
            t = md.topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions:
                return name
            time.sleep(0.1)
        raise AssertionError(f"topic {name} did not appear with {partitions} partitions")

    def delete_topic(self, name):
        futures = self.admin.delete_topics([name])
        for f in futures.values():
            f.result(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if name not in self.admin.list_topics(timeout=10).topics:
                return
            time.sleep(0.1)
        raise AssertionError(f"topic {name} still listed after delete")

    def produce(self, topic, count, partitions, value_size=100, start=0, headers=None, tag="m"):
        """Produces `count` records round-robin over the partitions, in large batches (linger 20 ms).

        Record i has key "<tag>-<i>" and a value of value_size bytes starting with the key.
        Returns the number of records per partition."""
        from confluent_kafka import Producer

        errors = []
        p = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "batch.size": 1000000,
                "queue.buffering.max.messages": 1000000,
                "queue.buffering.max.kbytes": 1048576,
            }
        )

        def on_delivery(err, _msg):
            if err is not None:
                errors.append(err)

        per_partition = [0] * partitions
        for i in range(start, start + count):
            key = f"{tag}-{i}".encode()
            value = key + b":" + b"x" * max(0, value_size - len(key) - 1)
            part = i % partitions
            kwargs = {"headers": headers} if headers is not None else {}
            for _ in range(1000):
                try:
                    p.produce(topic, key=key, value=value, partition=part, on_delivery=on_delivery, **kwargs)
                    break
                except BufferError:
                    p.poll(0.05)
            else:
                raise AssertionError("producer queue stayed full")
            per_partition[part] += 1
            if i % 5000 == 0:
                p.poll(0)
        remaining = p.flush(60)
        assert remaining == 0, f"{remaining} records not delivered"
        assert not errors, errors[:3]
        return per_partition

    def create_partitions(self, topic, total):
        from confluent_kafka.admin import NewPartitions

        futures = self.admin.create_partitions([NewPartitions(topic, total)])
        for f in futures.values():
            f.result(timeout=30)

    def cleanup(self):
        if self.created:
            try:
                for f in self.admin.delete_topics(list(set(self.created))).values():
                    try:
                        f.result(timeout=10)
                    except Exception:
                        pass
            except Exception:
                pass


@pytest.fixture
def kafka(kafka_bootstrap):
    helper = KafkaHelper(kafka_bootstrap)
    yield helper
    helper.cleanup()
