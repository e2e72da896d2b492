#!/usr/bin/env python3
"""Read throughput of the cdc-kafka Spark source against a plain confluent-kafka consumer.

Produces (or reuses) a topic of N messages of S bytes, then in the same run measures:
  (a) the cdc-kafka source into a no-op sink (Trigger.AvailableNow, `noop` format), in a local[2] Spark;
  (b) a plain confluent-kafka consumer: all partitions assigned from the beginning, consumed in batches
      until every partition reports end-of-partition (the high watermark of the fetch responses).
Prints a table and the ratio ours / plain (goal >= 0.5).

    make bench-source            (or: .venv/bin/python bench/kafka_source_throughput.py --messages 200000)
"""

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sys.path.insert(0, str(REPO_ROOT))
    from stack.settings import load_settings

    p.add_argument("--bootstrap", default=load_settings().kafka_bootstrap)
    p.add_argument("--messages", type=int, default=200_000, help="number of messages (default 200000)")
    p.add_argument("--size", type=int, default=500, help="value size in bytes (default 500)")
    p.add_argument("--partitions", type=int, default=4, help="partitions of a new topic (default 4)")
    p.add_argument("--topic", help="topic to use; default bench-ks-<messages>x<size>-p<partitions>")
    p.add_argument("--fresh", action="store_true", help="always produce into a new topic")
    p.add_argument("--spark-runs", type=int, default=2, help="timed Spark runs (the first one warms the JVM)")
    p.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=500,
        help="fetch.wait.max.ms of the plain consumer (default 500, librdkafka's and the source "
        "executors' default; Tansu answers empty fetches when it cannot find records within it)",
    )
    p.add_argument("--timeout", type=float, default=600, help="bound on each measurement, seconds")
    return p.parse_args()


def topic_exists(admin, topic):
    md = admin.list_topics(timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None and len(t.partitions) > 0


def produce(bootstrap, topic, messages, size, partitions):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        f.result(timeout=30)
    deadline = time.monotonic() + 30
    while not topic_exists(admin, topic):
        if time.monotonic() > deadline:
            raise SystemExit(f"topic {topic} did not appear")
        time.sleep(0.1)
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "batch.size": 1000000,
            "queue.buffering.max.messages": 1000000,
            "queue.buffering.max.kbytes": 1048576,
        }
    )
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    t0 = time.monotonic()
    for i in range(messages):
        key = str(i).encode()
        value = key + b":" + b"x" * max(0, size - len(key) - 1)
        for _ in range(10000):
            try:
                p.produce(topic, key=key, value=value, partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        else:
            raise SystemExit("producer queue stayed full")
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(120)
    if left or errors:
        raise SystemExit(f"produce failed: {left} undelivered, errors {errors[:3]}")
    return time.monotonic() - t0


def bench_plain(bootstrap, topic, fetch_wait_ms, timeout):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-plain-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": fetch_wait_ms,
        }
    )
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    t0 = time.monotonic()
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    done = set()
    n = 0
    nbytes = 0
    while len(done) < len(parts):
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"plain consumer: timed out after {timeout}s with {n} messages")
        for m in c.consume(num_messages=10000, timeout=1.0):
            err = m.error()
            if err is None:
                n += 1
                nbytes += len(m.value() or b"")
                done.discard(m.partition())
            elif err.code() == KafkaError._PARTITION_EOF:
                done.add(m.partition())
            else:
                raise SystemExit(f"plain consumer error: {err}")
    elapsed = time.monotonic() - t0
    c.close()
    return n, elapsed


def spark_session():
    sys.path.insert(0, str(REPO_ROOT))
    from cdc_pipeline.spark_session import build_session

    try:
        spark = build_session(None, app_name="cdc-kafka-bench", master="local[2]",
                              extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    spark.sparkContext.setLogLevel("WARN")
    return spark


def bench_spark(spark, bootstrap, topic, timeout):
    with tempfile.TemporaryDirectory(prefix="cdc-kafka-bench-") as ckpt:
        df = (
            spark.readStream.format("cdc-kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .load()
        )
        t0 = time.monotonic()
        q = (
            df.writeStream.format("noop")
            .option("checkpointLocation", ckpt)
            .trigger(availableNow=True)
            .start()
        )
        finished = q.awaitTermination(timeout)
        elapsed = time.monotonic() - t0
        if q.exception() is not None:
            raise SystemExit(f"spark query failed: {q.exception()}")
        if not finished:
            q.stop()
            raise SystemExit(f"spark query did not finish within {timeout}s")
        rows = sum(p["numInputRows"] for p in q.recentProgress)
        return rows, elapsed


def main():
    args = parse_args()
    from confluent_kafka.admin import AdminClient

    topic = args.topic or f"bench-ks-{args.messages}x{args.size}-p{args.partitions}"
    if args.fresh:
        topic = f"{topic}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    if topic_exists(admin, topic):
        print(f"reusing topic {topic}")
    else:
        secs = produce(args.bootstrap, topic, args.messages, args.size, args.partitions)
        print(f"produced {args.messages} x {args.size} B into {topic} in {secs:.1f}s")

    plain_n, plain_s = bench_plain(args.bootstrap, topic, args.fetch_wait_ms, args.timeout)

    spark = spark_session()
    try:
        runs = [bench_spark(spark, args.bootstrap, topic, args.timeout) for _ in range(max(1, args.spark_runs))]
    finally:
        spark.stop()

    best_n, best_s = min(runs, key=lambda r: r[1])
    print()
    print(f"{'reader':<42} {'messages':>10} {'seconds':>9} {'msg/s':>10}")
    for i, (n, s) in enumerate(runs):
        label = "cdc-kafka source, Spark local[2], run %d%s" % (i + 1, " (cold)" if i == 0 else "")
        print(f"{label:<42} {n:>10} {s:>9.2f} {n / s:>10.0f}")
    label = f"plain confluent-kafka (fetch.wait {args.fetch_wait_ms} ms)"
    print(f"{label:<42} {plain_n:>10} {plain_s:>9.2f} {plain_n / plain_s:>10.0f}")
    ratio = (best_n / best_s) / (plain_n / plain_s)
    print(f"\nratio ours/plain (best Spark run): {ratio:.2f}  (goal >= 0.5)")
    if best_n != plain_n:
        print(f"WARNING: message counts differ: spark {best_n}, plain {plain_n}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
