"""The job's Kafka source, Spark's own `kafka` format (spark-sql-kafka-0-10), on the stack's Apache
Kafka broker (CDC_KAFKA_BOOTSTRAP): every source option the pipeline documents behaves as the job
relies on it — schema, starting offsets, exactly-once across restarts, rate limiting,
Trigger.AvailableNow, topic/partition discovery, failOnDataLoss (offsets gone, log truncated, topic
re-created), headers and lag metrics.
"""

import json
import threading
import time

import pytest

pytestmark = pytest.mark.integration

FORMAT = "kafka"


# ---------------------------------------------------------------------------------------------- helpers


def reader(spark, bootstrap, **options):
    r = spark.readStream.format(FORMAT).option("kafka.bootstrap.servers", bootstrap)
    for k, v in options.items():
        r = r.option(k, v)
    return r.load()


class Collector:
    """foreachBatch sink that keeps (batch_id, rows) on the driver."""

    def __init__(self, columns=("topic", "partition", "offset", "key")):
        self.columns = list(columns)
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, df, batch_id):
        rows = df.select(*self.columns).collect()
        with self.lock:
            self.batches.append((batch_id, rows))

    @property
    def rows(self):
        with self.lock:
            return [r for _, b in self.batches for r in b]

    def positions(self):
        return [(r["topic"], r["partition"], r["offset"]) for r in self.rows]


def start(df, checkpoint, collector, trigger=None):
    w = df.writeStream.foreachBatch(collector).option("checkpointLocation", str(checkpoint))
    if trigger == "availableNow":
        w = w.trigger(availableNow=True)
    elif trigger is not None:
        w = w.trigger(processingTime=trigger)
    return w.start()


def run_available_now(df, checkpoint, collector, timeout=120):
    q = start(df, checkpoint, collector, trigger="availableNow")
    try:
        finished = q.awaitTermination(timeout)
        if q.exception() is not None:
            raise AssertionError(f"query failed: {q.exception()}")
        assert finished, f"AvailableNow query did not finish within {timeout}s"
    finally:
        q.stop()
    return q


def wait_until(query, check, timeout=60, interval=0.2, what="condition"):
    """Bounded poll: fails on query error, or on timeout with the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        exc = query.exception()
        if exc is not None:
            raise AssertionError(f"query failed while waiting for {what}: {exc}")
        ok, last = check()
        if ok:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def wait_for_failure(query, timeout=90):
    """Waits for the query to stop with an error and returns the error text."""
    try:
        query.awaitTermination(timeout)
    except Exception as e:  # StreamingQueryException
        return str(e)
    exc = query.exception()
    if exc is not None:
        return str(exc)
    query.stop()
    raise AssertionError(f"query did not fail within {timeout}s")


def expected_positions(topic, per_partition, starts=None):
    starts = starts or [0] * len(per_partition)
    return {(topic, p, o) for p, n in enumerate(per_partition) for o in range(starts[p], starts[p] + n)}


# ------------------------------------------------------------------------------------------------ tests


def test_schema(spark, kafka_bootstrap):
    from pyspark.sql.types import (
        ArrayType,
        BinaryType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    base = [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
    df = reader(spark, kafka_bootstrap, subscribe="whatever")
    assert df.schema == StructType(base)
    headers = StructField(
        "headers",
        ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())])),
    )
    df = reader(spark, kafka_bootstrap, subscribe="whatever", includeHeaders="true")
    assert df.schema == StructType(base + [headers])
    assert df.isStreaming


def test_exactly_once_across_restart(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 4)
    first = kafka.produce(topic, 2000, 4, tag="a")
    ckpt = tmp_path / "ckpt"
    c1 = Collector()
    q = start(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"), ckpt, c1)
    try:
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    assert sorted(c1.positions()) == sorted(expected_positions(topic, first))

    second = kafka.produce(topic, 1500, 4, start=2000, tag="a")
    c2 = Collector()
    # startingOffsets is ignored on restart: the checkpoint decides.
    q = start(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"), ckpt, c2)
    try:
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    got2 = c2.positions()
    assert len(got2) == len(set(got2)) == sum(second)
    assert set(got2) == expected_positions(topic, second, starts=first)
    allpos = c1.positions() + got2
    assert len(allpos) == len(set(allpos)) == 3500
    keys = {r["key"].decode() for r in c1.rows + c2.rows}
    assert keys == {f"a-{i}" for i in range(3500)}


def test_max_offsets_per_trigger(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 3)
    per = kafka.produce(topic, 3000, 3)
    c = Collector()
    df = reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest", maxOffsetsPerTrigger="700")
    q = run_available_now(df, tmp_path / "ckpt", c)
    sizes = [len(rows) for _, rows in c.batches]
    assert all(s <= 700 for s in sizes), sizes
    assert sum(sizes) == 3000 and len(sizes) >= 5, sizes
    progress = [p["numInputRows"] for p in q.recentProgress if p["numInputRows"] > 0]
    assert progress and max(progress) <= 700, progress
    assert sorted(c.positions()) == sorted(expected_positions(topic, per))


def test_starting_offsets_latest(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 3)
    before = kafka.produce(topic, 600, 3, tag="old")
    c = Collector()
    q = start(reader(spark, kafka.bootstrap, subscribe=topic), tmp_path / "ckpt", c)  # default: latest
    try:
        q.processAllAvailable()
        assert c.rows == []
        after = kafka.produce(topic, 90, 3, start=600, tag="new")
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    assert set(c.positions()) == expected_positions(topic, after, starts=before)
    assert all(r["key"].decode().startswith("new-") for r in c.rows)


def test_starting_offsets_json(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 3)
    kafka.produce(topic, 90, 3)  # 30 per partition
    starting = json.dumps({topic: {"0": 10, "1": -2, "2": -1}})
    c = Collector()
    q = start(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets=starting), tmp_path / "ckpt", c)
    try:
        q.processAllAvailable()
        got = set(c.positions())
        assert got == {(topic, 0, o) for o in range(10, 30)} | {(topic, 1, o) for o in range(30)}
        kafka.produce(topic, 6, 3, start=90)
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    got = c.positions()
    assert len(got) == len(set(got))
    assert {(t, p, o) for t, p, o in got if p == 2} == {(topic, 2, 30), (topic, 2, 31)}


def test_starting_offsets_json_must_name_all_partitions(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 10, 2)
    c = Collector()
    q = start(
        reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets=json.dumps({topic: {"0": 0}})),
        tmp_path / "ckpt",
        c,
    )
    err = wait_for_failure(q)
    assert "you must specify all TopicPartitions" in err


def test_available_now_drains_backlog_and_stops(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 4)
    per = kafka.produce(topic, 8000, 4)
    ckpt = tmp_path / "ckpt"
    c = Collector()
    run_available_now(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"), ckpt, c)
    assert sorted(c.positions()) == sorted(expected_positions(topic, per))
    # A second AvailableNow run with the same checkpoint reads only what arrived since.
    more = kafka.produce(topic, 400, 4, start=8000)
    c2 = Collector()
    run_available_now(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"), ckpt, c2)
    assert set(c2.positions()) == expected_positions(topic, more, starts=per)
    assert len(c2.positions()) == 400


def test_subscribe_pattern_picks_up_new_topic(spark, kafka, tmp_path):
    prefix = kafka.topic_name("kspat")
    t1 = kafka.create_topic(f"{prefix}-one", 2)
    per1 = kafka.produce(t1, 200, 2)
    c = Collector()
    df = reader(spark, kafka.bootstrap, subscribePattern=f"^{prefix}-.*", startingOffsets="earliest")
    q = start(df, tmp_path / "ckpt", c, trigger="200 milliseconds")
    try:
        wait_until(q, lambda: (len(c.rows) >= 200, len(c.rows)), what="first topic")
        t2 = kafka.create_topic(f"{prefix}-two", 3)
        per2 = kafka.produce(t2, 300, 3)
        # New topics are found by the next latestOffset and read from their earliest offset.
        wait_until(q, lambda: (len(c.rows) >= 500, len(c.rows)), what="new topic's records")
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    got = c.positions()
    assert len(got) == len(set(got))
    assert set(got) == expected_positions(t1, per1) | expected_positions(t2, per2)


def test_partition_added_while_running(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    per = kafka.produce(topic, 100, 2)
    c = Collector()
    q = start(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"), tmp_path / "ckpt", c)
    try:
        q.processAllAvailable()
        kafka.create_partitions(topic, 4)
        deadline = time.monotonic() + 30
        while len(kafka.admin.list_topics(topic=topic, timeout=10).topics[topic].partitions) < 4:
            assert time.monotonic() < deadline, "new partitions not visible"
            time.sleep(0.2)
        per_new = kafka.produce(topic, 400, 4, start=100)
        wait_until(q, lambda: (len(c.rows) >= 500, len(c.rows)), what="records of the new partitions")
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    got = c.positions()
    starts = per + [0, 0]
    assert set(got) == expected_positions(topic, per + [0, 0]) | expected_positions(topic, per_new, starts=starts)
    assert len(got) == len(set(got)) == 500


def _offsets_beyond_end_query(spark, kafka, tmp_path, fail_on_data_loss):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 40, 2)  # 20 per partition
    starting = json.dumps({topic: {"0": 1000, "1": 5}})
    c = Collector()
    df = reader(
        spark,
        kafka.bootstrap,
        subscribe=topic,
        startingOffsets=starting,
        failOnDataLoss=str(fail_on_data_loss).lower(),
        **{"fetchOffset.retryIntervalMs": "100"},
    )
    return topic, c, start(df, tmp_path / "ckpt", c)


def test_fail_on_data_loss_true_fails_when_offsets_are_gone(spark, kafka, tmp_path):
    topic, c, q = _offsets_beyond_end_query(spark, kafka, tmp_path, True)
    err = wait_for_failure(q)
    assert f"{topic}-0" in err and "1000" in err and "20" in err, err
    assert "failOnDataLoss" in err


def test_fail_on_data_loss_false_goes_on(spark, kafka, tmp_path):
    topic, c, q = _offsets_beyond_end_query(spark, kafka, tmp_path, False)
    try:
        q.processAllAvailable()
        # Partition 1 was readable from offset 5; partition 0's range is lost and skipped.
        assert set(c.positions()) == {(topic, 1, o) for o in range(5, 20)}
        kafka.produce(topic, 10, 2, start=40)
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    got = c.positions()
    assert len(got) == len(set(got))
    assert {(t, p, o) for t, p, o in got if p == 0} == {(topic, 0, o) for o in range(20, 25)}


@pytest.mark.parametrize("fail_on_data_loss", [True, False])
def test_topic_deleted_and_recreated(spark, kafka, tmp_path, fail_on_data_loss):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 200, 2, tag="old")
    ckpt = tmp_path / "ckpt"
    opts = dict(subscribe=topic, startingOffsets="earliest", failOnDataLoss=str(fail_on_data_loss).lower())
    opts["fetchOffset.retryIntervalMs"] = "100"
    c = Collector()
    q = start(reader(spark, kafka.bootstrap, **opts), ckpt, c)
    try:
        q.processAllAvailable()
    finally:
        q.stop()
    assert len(c.rows) == 200
    kafka.delete_topic(topic)
    kafka.create_topic(topic, 2)
    kafka.produce(topic, 20, 2, tag="new")  # offsets 0..9 per partition: below the checkpoint's 100
    c2 = Collector()
    q = start(reader(spark, kafka.bootstrap, **opts), ckpt, c2)
    if fail_on_data_loss:
        err = wait_for_failure(q)
        assert topic in err and "changed from 100 to 10" in err, err
        return
    try:
        q.processAllAvailable()  # the lost range is skipped with a warning
        kafka.produce(topic, 6, 2, start=20, tag="after")
        q.processAllAvailable()
    finally:
        q.stop()
    assert q.exception() is None
    keys = sorted(r["key"].decode() for r in c2.rows)
    assert keys == sorted(f"after-{i}" for i in range(20, 26)), keys


def test_fail_on_data_loss_when_the_log_is_truncated_behind_the_checkpoint(spark, kafka, tmp_path):
    """Records the query has not read yet are deleted (retention, DeleteRecords): it must stop and
    say where, not skip them."""
    from confluent_kafka import TopicPartition

    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 40, 2)  # 20 per partition
    ckpt = tmp_path / "ckpt"
    opts = dict(subscribe=topic, startingOffsets="earliest", failOnDataLoss="true",
                maxOffsetsPerTrigger="10", **{"fetchOffset.retryIntervalMs": "100"})
    c = Collector()
    run_available_now(reader(spark, kafka.bootstrap, **{**opts, "maxOffsetsPerTrigger": "10"}), ckpt, c)
    assert len(c.rows) == 40
    kafka.produce(topic, 40, 2, start=40)  # offsets 20..39 per partition, not read yet
    futures = kafka.admin.delete_records([TopicPartition(topic, 0, 30)])
    for f in futures.values():
        f.result(timeout=30)
    q = start(reader(spark, kafka.bootstrap, **opts), ckpt, Collector())
    err = wait_for_failure(q)
    assert topic in err and "failOnDataLoss" in err, err


def test_reads_all_of_a_large_topic_produced_in_big_batches(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 4)
    per = kafka.produce(topic, 50000, 4, value_size=200)
    c = Collector(columns=("topic", "partition", "offset"))
    q = run_available_now(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"),
                          tmp_path / "ckpt", c)
    got = c.positions()
    assert len(got) == 50000 and set(got) == expected_positions(topic, per)
    end = q.lastProgress["sources"][0]["endOffset"][topic]
    assert {int(p): o for p, o in end.items()} == {p: n for p, n in enumerate(per)}


def test_include_headers(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 4, 2, headers=[("h1", b"v1"), ("h2", b"")], tag="with")
    kafka.produce(topic, 2, 2, start=4, tag="without")
    c = Collector(columns=("topic", "partition", "offset", "key", "headers"))
    df = reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest", includeHeaders="true")
    run_available_now(df, tmp_path / "ckpt", c)
    rows = {r["key"].decode(): r for r in c.rows}
    assert len(rows) == 6
    for i in range(4):
        hs = [(h["key"], bytes(h["value"])) for h in rows[f"with-{i}"]["headers"]]
        assert hs == [("h1", b"v1"), ("h2", b"")]
    for i in (4, 5):
        assert not rows[f"without-{i}"]["headers"]


def test_source_metrics_report_lag(spark, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic_name(), 2)
    kafka.produce(topic, 1000, 2)  # 500 per partition
    c = Collector()
    df = reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest", maxOffsetsPerTrigger="300")
    q = run_available_now(df, tmp_path / "ckpt", c)
    progress = [p for p in q.recentProgress if p["numInputRows"] > 0]
    first = progress[0]["sources"][0]
    assert first["metrics"] == {
        "minOffsetsBehindLatest": "350",
        "maxOffsetsBehindLatest": "350",
        "avgOffsetsBehindLatest": "350.0",
    }, first
    assert first["latestOffset"] == {topic: {"0": 500, "1": 500}}
    last = progress[-1]["sources"][0]["metrics"]
    assert last["maxOffsetsBehindLatest"] == "0" and last["avgOffsetsBehindLatest"] == "0.0"
    assert len(c.rows) == 1000
