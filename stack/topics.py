"""Kafka topics' offsets as the stack's tools read them (status, add-table, tests, benchmarks): one
place that asks the broker, so each caller only shapes the answer."""
from __future__ import annotations

import uuid


def watermarks(bootstrap: str, topics, timeout: float = 10) -> dict[str, dict[int, tuple[int, int]]]:
    """{topic: {partition: (log start, high watermark)}}, asked from the broker (not cached); a topic
    that does not exist (yet) maps to {}."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"cdc-offsets-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": 3})
    try:
        out = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            partitions = sorted(meta.partitions) if meta is not None and meta.error is None else []
            out[topic] = {p: tuple(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout,
                                                                  cached=False)) for p in partitions}
        return out
    finally:
        consumer.close()


def records(bootstrap: str, topics, timeout: float = 10) -> dict[str, int]:
    """Records each topic holds now (high watermark - log start, over its partitions)."""
    return {topic: sum(max(high - low, 0) for low, high in parts.values())
            for topic, parts in watermarks(bootstrap, topics, timeout).items()}


def end_offsets(bootstrap: str, topic: str, timeout: float = 10) -> dict[int, int]:
    """The high watermark of each partition of `topic` ({} when it does not exist)."""
    return {p: high for p, (_low, high) in watermarks(bootstrap, [topic], timeout)[topic].items()}
