"""The broker keeps topics, messages and committed offsets across a graceful restart and a kill -9."""
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from stack.services import service
from stack_support import SETTINGS, consume_until, kafka_config, unique

pytestmark = pytest.mark.integration
PARTITIONS = 3
MESSAGES = 3000


def produce(topic: str, count: int) -> None:
    producer = Producer(kafka_config(**{"acks": "all", "linger.ms": 20, "enable.idempotence": True}))
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=f"message-{i}".encode())
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "not every message was acknowledged"


@pytest.mark.parametrize("how", ["graceful", "kill"])
def test_broker_restart_keeps_topics_messages_and_committed_offsets(how, restore_stack):
    topic, group = unique("restart-test"), unique("restart-group")
    admin = AdminClient(kafka_config())
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=15)
    produce(topic, MESSAGES)

    committed = [TopicPartition(topic, p, 100 + p) for p in range(PARTITIONS)]
    consumer = Consumer(kafka_config(**{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=committed, asynchronous=False)
    consumer.close()

    broker = service(SETTINGS, "kafka")
    if how == "graceful":
        broker.stop()
    else:
        broker.kill()
    broker.start()

    assert topic in AdminClient(kafka_config()).list_topics(timeout=10).topics
    values: set[str] = set()

    def keep(record):
        values.add(record.value)
        return False  # only the set of values matters

    consume_until(topic, lambda _: len(values) >= MESSAGES, timeout=60, partitions=PARTITIONS,
                  keep=keep, decode=lambda raw: raw.decode() if raw is not None else None,
                  describe=lambda: f"{len(values)} of {MESSAGES} distinct values seen")
    assert values == {f"message-{i}" for i in range(MESSAGES)}

    consumer = Consumer(kafka_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        after = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
    finally:
        consumer.close()
    assert sorted((tp.partition, tp.offset) for tp in after) == [(p, 100 + p) for p in range(PARTITIONS)]
