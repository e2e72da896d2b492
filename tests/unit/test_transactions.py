"""The transaction gate's decisions (cdc_pipeline.transactions), without Spark."""
import pytest

from cdc_pipeline.transactions import (Decision, End, Part, Tail, close_over, gtid_position, held_records, hold,
                                       next_high_water, next_tail, release_all, transaction_topic_prefix)

TX = "oltp.transaction"
ACC, TRX = "oltp.bankdb.bank_accounts", "oltp.bankdb.transactions"
NOW = 1_000_000
MINUTE = 60_000


def part(txn, topic, partition, first, last=None, events=1, ts=NOW - 1000):
    return Part(txn, topic, partition, events, first, first if last is None else last, ts)


def test_complete_transactions_are_not_held():
    decision = hold([], [], TX, NOW, MINUTE)
    assert decision.held == set() and decision.cuts == {} and decision.released == []
    assert decision.applies(ACC, 0, 10**9)


def test_an_incomplete_transaction_cuts_each_partition_at_its_first_record():
    parts = [part("t2", ACC, 0, 10), part("t2", ACC, 1, 7, 8, events=2), part("t2", TRX, 2, 40)]
    decision = hold(parts, [End("t2", 1, 500, NOW - 500)], TX, NOW, MINUTE)
    assert decision.held == decision.incomplete == {"t2"}
    assert decision.cuts == {(ACC, 0): 10, (ACC, 1): 7, (TRX, 2): 40, (TX, 1): 500}
    assert decision.applies(ACC, 0, 9) and not decision.applies(ACC, 0, 10) and not decision.applies(ACC, 0, 11)
    assert decision.applies(ACC, 2, 10**6)  # a partition it does not touch flows


def test_a_transaction_after_a_cut_is_held_whole_and_its_other_partitions_are_cut():
    """t3 is complete, but one of its records is after t2's cut in partition 0: applying its record in
    partition 1 alone would split it. The fixpoint holds it and cuts partition 1 at its record; t4, after
    that new cut, is held in turn."""
    decision = hold([part("t2", ACC, 0, 10)], [], TX, NOW, MINUTE)
    assert close_over(decision, [part("t3", ACC, 0, 11), part("t3", TRX, 1, 5)], [], TX)
    assert decision.cuts == {(ACC, 0): 10, (TRX, 1): 5}
    assert close_over(decision, [part("t4", TRX, 1, 6), part("t4", ACC, 2, 3)], [End("t4", 0, 77, NOW)], TX)
    assert decision.held == {"t2", "t3", "t4"} and decision.incomplete == {"t2"}
    assert decision.cuts == {(ACC, 0): 10, (TRX, 1): 5, (ACC, 2): 3, (TX, 0): 77}
    # Nothing new: the fixpoint is reached.
    assert not close_over(decision, [part("t3", ACC, 0, 11)], [], TX)


def test_a_held_transaction_s_records_are_all_at_or_after_the_cuts():
    parts = [part("t2", ACC, 0, 10, 30, events=3), part("t2", ACC, 0, 50)]  # re-sent copy later in the partition
    decision = hold(parts, [], TX, NOW, MINUTE)
    assert decision.cuts == {(ACC, 0): 10}


def test_an_old_incomplete_transaction_is_released_with_its_age():
    old = NOW - MINUTE - 1
    decision = hold([part("t1", ACC, 0, 3, 4, events=2, ts=old), part("t2", ACC, 1, 9)], [], TX, NOW, MINUTE)
    assert decision.held == {"t2"} and (ACC, 0) not in decision.cuts
    [released] = decision.released
    assert (released.txn, released.reason, released.records, released.age_ms) == ("t1", "timeout", 2, MINUTE + 1)


def test_an_end_without_events_waits_but_is_dropped_silently_when_old():
    """The END of a transaction whose events are late holds the transaction topic (its events will be
    counted against it); an END whose events never come releases nothing and alerts nothing."""
    fresh = hold([], [End("t5", 2, 300, NOW - 10)], TX, NOW, MINUTE)
    assert fresh.held == {"t5"} and fresh.cuts == {(TX, 2): 300} and fresh.released == []
    old = hold([], [End("t5", 2, 300, NOW - 2 * MINUTE)], TX, NOW, MINUTE)
    assert old.held == set() and old.cuts == {} and old.released == []


def test_the_age_counts_from_the_first_record_end_included():
    decision = hold([part("t2", ACC, 0, 10, ts=NOW - 100)], [End("t2", 0, 5, NOW - MINUTE)], TX, NOW, MINUTE)
    assert [r.txn for r in decision.released] == ["t2"]


def test_release_all_reports_only_the_incomplete_transactions():
    decision = hold([part("t2", ACC, 0, 10, 11, events=2, ts=NOW - 5000)], [], TX, NOW, MINUTE)
    close_over(decision, [part("t3", ACC, 0, 12), part("t3", TRX, 0, 4)], [], TX)
    release_all(decision, [part("t2", ACC, 0, 10, 11, events=2, ts=NOW - 5000), part("t3", ACC, 0, 12)], NOW)
    assert decision.held == set() and decision.cuts == {}
    assert [(r.txn, r.reason, r.records, r.age_ms) for r in decision.released] == [("t2", "size", 2, 5000)]


def test_held_records_and_the_next_tail():
    decision = Decision({"t2"}, {(ACC, 0): 10, (TX, 1): 500, (TRX, 2): 8}, [])
    read_through = {(ACC, 0): 25, (TX, 1): 503, (TRX, 2): 8, (ACC, 1): 99}
    assert held_records(decision.cuts, read_through) == 15 + 3
    tail = next_tail(decision, read_through, [End("t1", 1, 501, NOW), End("t2", 1, 500, NOW)])
    # (TRX, 2): cut at the end, nothing left there; t2 is held, so only t1 is "applied with END in the tail".
    assert tail.ranges == {(ACC, 0): (10, 25), (TX, 1): (500, 503)}
    assert tail.applied == frozenset({"t1"}) and tail.records == 18


def test_tail_json_round_trip_and_kafka_offsets():
    tail = Tail({(ACC, 0): (10, 25), (ACC, 2): (3, 4), (TX, 1): (500, 503)}, frozenset({"0-1-7", "0-1-9"}))
    assert Tail.from_json(tail.to_json()) == tail
    assert Tail.from_json(None) == Tail() == Tail.from_json("")
    assign, starting, ending = tail.kafka_offsets()
    assert assign == '{"oltp.bankdb.bank_accounts": [0, 2], "oltp.transaction": [1]}'
    assert starting == '{"oltp.bankdb.bank_accounts": {"0": 10, "2": 3}, "oltp.transaction": {"1": 500}}'
    assert ending == '{"oltp.bankdb.bank_accounts": {"0": 25, "2": 4}, "oltp.transaction": {"1": 503}}'
    assert Tail().records == 0 and not Tail().ranges


def test_gtid_positions_of_mariadb_and_mysql_ids():
    assert gtid_position("0-1-4841") == ("0-1", 4841)
    assert gtid_position("3e11fa47-71ca-11e1-9e33-c80aa9429562:23") == ("3e11fa47-71ca-11e1-9e33-c80aa9429562", 23)
    assert gtid_position("t1") is None and gtid_position("0-1-") is None and gtid_position("") is None


def test_the_high_water_mark_rises_to_the_newest_completed_transaction_below_every_held_one():
    assert next_high_water({}, {"0-1": 40}, []) == {"0-1": 40}
    # A held transaction of the source at or below the completed one: the mark stays (it only rises).
    assert next_high_water({"0-1": 30}, {"0-1": 40}, ["0-1-35"]) == {"0-1": 30}
    assert next_high_water({"0-1": 30}, {"0-1": 40}, ["0-1-40"]) == {"0-1": 30}
    assert next_high_water({"0-1": 30}, {"0-1": 40}, ["0-1-41", "0-2-1", "t9"]) == {"0-1": 40}
    assert next_high_water({"0-1": 50}, {"0-1": 40, "0-2": 7}, []) == {"0-1": 50, "0-2": 7}


def test_tail_json_keeps_the_high_water_marks_and_reads_a_tail_written_without_them():
    tail = Tail({(ACC, 0): (1, 2)}, frozenset(), {"0-1": 4841})
    assert Tail.from_json(tail.to_json()) == tail
    assert Tail.from_json('{"ranges":[],"applied":["t1"]}') == Tail({}, frozenset({"t1"}))


def test_transaction_topic_prefix():
    assert transaction_topic_prefix("oltp.transaction") == "oltp"
    assert transaction_topic_prefix("a.b.transaction") == "a.b"
    with pytest.raises(ValueError, match="ends in '.transaction'"):
        transaction_topic_prefix("oltp.transactions")


# --- the gate on Spark (the tail's Kafka read is the stack tests') ----------------------------------------

import dataclasses
import json
from pathlib import Path

from cdc_pipeline.config_loader import load_config
from cdc_pipeline.transactions import gate_batch

PIPELINE_YAML = Path(__file__).resolve().parents[2] / "conf" / "pipeline.yaml"
KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp"


def change(topic, partition, offset, txn=None, order=1, ts=NOW - 1000, op="u"):
    block = None if txn is None else {"id": txn, "total_order": order, "data_collection_order": order}
    return (topic, partition, offset, {"payload": {"op": op, "transaction": block}}, ts)


def end(partition, offset, txn, counts, ts=NOW - 1000):
    collections = [{"data_collection": f"bankdb.{table}", "event_count": n} for table, n in counts.items()]
    return (TX, partition, offset, {"payload": {"status": "END", "id": txn, "event_count": sum(counts.values()),
                                                "data_collections": collections}}, ts)


def begin(partition, offset, txn):
    return (TX, partition, offset, {"payload": {"status": "BEGIN", "id": txn, "event_count": None,
                                                "data_collections": None}}, NOW - 1000)


def batch(spark, records):
    from datetime import datetime, timezone
    rows = [(b"k", json.dumps(value).encode(), topic, partition, offset,
             datetime.fromtimestamp(ts / 1000, timezone.utc)) for topic, partition, offset, value, ts in records]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def applied(gate):
    return sorted((r.topic, r.partition, r.offset) for r in gate.frame.select("topic", "partition", "offset").collect())


def shipped(**transactions):
    """The shipped config with transaction-consistent apply on (and these transactions settings)."""
    config = load_config(PIPELINE_YAML, {})
    settings = {"consistent": True, **transactions}
    return dataclasses.replace(config, transactions=dataclasses.replace(config.transactions, **settings))


SCENARIO = [
    # t1: complete (the signal table in its END is not read by the job, so not waited for).
    change(ACC, 0, 0, "t1", 1), change(ACC, 1, 0, "t1", 2), change(TRX, 0, 0, "t1", 1),
    begin(0, 0, "t1"), end(0, 1, "t1", {"bank_accounts": 2, "transactions": 1, "debezium_signal": 1}),
    # t2: one of its two transactions rows has not arrived.
    change(ACC, 0, 1, "t2", 1), change(ACC, 1, 1, "t2", 2), change(TRX, 2, 0, "t2", 1),
    end(1, 0, "t2", {"bank_accounts": 2, "transactions": 2}),
    # t3: complete, but after t2 in partition 0 of bank_accounts.
    change(ACC, 0, 2, "t3", 1), end(0, 2, "t3", {"bank_accounts": 1}),
    # t4: complete, in partitions t2 does not touch.
    change(TRX, 1, 0, "t4", 1), change(ACC, 2, 0, "t4", 1), end(2, 0, "t4", {"bank_accounts": 1, "transactions": 1}),
    # snapshot reads (no transaction): one after t2's cut, one in a free partition.
    change(ACC, 1, 2), change(ACC, 2, 1),
    # t5: an old END whose events were applied long ago.
    end(0, 3, "t5", {"bank_accounts": 1}, ts=NOW - 10 * MINUTE),
]


def test_the_gate_passes_whole_transactions_and_leaves_the_rest_as_a_tail(spark):
    gate = gate_batch(batch(spark, SCENARIO), Tail(), shipped())
    try:
        assert applied(gate) == [(ACC, 0, 0), (ACC, 1, 0), (ACC, 2, 0), (ACC, 2, 1), (TRX, 0, 0), (TRX, 1, 0)]
        assert gate.tail.ranges == {(ACC, 0): (1, 3), (ACC, 1): (1, 3), (TRX, 2): (0, 1), (TX, 0): (2, 4), (TX, 1): (0, 1)}
        assert gate.tail.applied == frozenset({"t5"})  # its END is in the tail: not to wait for again
        assert gate.released == []
        assert gate.stats["held_transactions"] == 2 and gate.stats["incomplete_transactions"] == 1
        assert gate.stats["held_records"] == gate.tail.records == 8
        assert gate.stats["held_topics"] == [ACC, TRX, TX]
    finally:
        gate.release()


def test_the_missing_event_completes_the_held_transactions(spark):
    """The next batch gets the held records from memory (the gate's `held` frame: exactly the tail's
    records) plus the missing row: everything passes, and t5's END, read again, waits for nothing."""
    first = gate_batch(batch(spark, SCENARIO), Tail(), shipped())
    first.release()  # the batch is done; its cache stays, for the held records
    assert sorted((r.topic, r.partition, r.offset) for r in first.held.collect()) == sorted(
        (t, p, o) for (t, p), (start, end) in first.tail.ranges.items() for o in range(start, end))
    gate = gate_batch(batch(spark, [change(TRX, 2, 1, "t2", 2)]), first.tail, shipped(), held=first.held)
    try:
        assert applied(gate) == [(ACC, 0, 1), (ACC, 0, 2), (ACC, 1, 1), (ACC, 1, 2), (TRX, 2, 0), (TRX, 2, 1)]
        assert gate.tail == Tail() and gate.held is None and gate.stats["held_transactions"] == 0
        assert gate.stats["tail_in_memory"] and gate.stats["tail_read"] == 8
    finally:
        gate.release()
        first.release(held_too=True)


def test_an_incomplete_transaction_is_released_once_the_stream_moved_release_after_past_it(spark):
    """Stream time: the newest Kafka timestamp of a transaction's record. However old the records are by
    the wall clock (a backlog), t2 waits until a transaction a minute younger than its first record is read."""
    gate = gate_batch(batch(spark, SCENARIO), Tail(), shipped(release_after_ms=MINUTE))
    assert gate.released == [] and gate.stats["held_transactions"] == 2
    gate.release()
    later = [change(ACC, 2, 2, "t9", ts=NOW - 1000 + MINUTE), end(2, 1, "t9", {"bank_accounts": 1}, ts=NOW - 1000 + MINUTE)]
    gate = gate_batch(batch(spark, SCENARIO + later), Tail(), shipped(release_after_ms=MINUTE))
    try:
        assert len(applied(gate)) == 12  # every table record
        assert [(r.txn, r.reason, r.records, r.age_ms) for r in gate.released] == [("t2", "timeout", 3, MINUTE)]
        assert gate.tail == Tail()
    finally:
        gate.release()


def test_over_max_held_records_everything_is_applied(spark):
    gate = gate_batch(batch(spark, SCENARIO), Tail(), shipped(max_held_records=3))
    try:
        assert len(applied(gate)) == 11
        assert [(r.txn, r.reason) for r in gate.released] == [("t2", "size")]
    finally:
        gate.release()


def test_switched_off_everything_but_the_transaction_topic_passes(spark):
    gate = gate_batch(batch(spark, SCENARIO), Tail(), shipped(consistent=False))
    assert len(applied(gate)) == 11 and gate.tail == Tail() and gate.released == []


def test_a_batch_s_end_offsets_come_from_spark_s_offset_log(spark, tmp_path):
    from cdc_pipeline.stream import batch_end_offsets
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "7").write_text(
        'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"%s":{"1":9,"0":5},"%s":{"0":3}}' % (ACC, TX))
    assert batch_end_offsets(spark, str(tmp_path), 7) == {(ACC, 0): 5, (ACC, 1): 9, (TX, 0): 3}
    with pytest.raises(RuntimeError, match="cannot read batch 8's offsets"):
        batch_end_offsets(spark, str(tmp_path), 8)


def test_a_truncate_flows_although_debezium_never_ends_its_transaction(spark):
    """Measured on the local stack: a TRUNCATE gets a transaction id and a BEGIN, never an END."""
    records = [change(TRX, 0, 0, "0-1-41", op="t"), begin(0, 0, "0-1-41"), change(TRX, 0, 1, "0-1-42"),
               begin(0, 1, "0-1-42"), end(0, 2, "0-1-42", {"transactions": 1})]
    gate = gate_batch(batch(spark, records), Tail(), shipped())
    try:
        assert applied(gate) == [(TRX, 0, 0), (TRX, 0, 1)] and gate.tail.ranges == {}
        assert gate.tail.high_water == {"0-1": 42}
    finally:
        gate.release()


def test_a_record_of_a_transaction_at_or_below_the_high_water_mark_flows_as_a_re_send(spark):
    """Kafka Connect re-sends after a crash, possibly without the END: a transaction at or below the
    mark was applied whole before. Above the mark, a lone event still waits for its END."""
    previous = Tail(high_water={"0-1": 42})
    records = [change(ACC, 0, 5, "0-1-40"), change(ACC, 1, 5, "0-1-42"), change(ACC, 2, 5, "0-1-43"),
               change(TRX, 0, 5, "0-2-1")]
    gate = gate_batch(batch(spark, records), previous, shipped())
    try:
        assert applied(gate) == [(ACC, 0, 5), (ACC, 1, 5)]
        assert gate.tail.ranges == {(ACC, 2): (5, 6), (TRX, 0): (5, 6)}
        assert gate.tail.high_water == {"0-1": 42}
    finally:
        gate.release()


def test_a_held_transaction_keeps_the_mark_below_it(spark):
    """0-1-44 completes, but 0-1-43 is held (an event missing): the mark must not pass 43."""
    records = [change(ACC, 0, 0, "0-1-43", 1), end(0, 0, "0-1-43", {"bank_accounts": 2}),
               change(ACC, 1, 0, "0-1-44"), end(1, 0, "0-1-44", {"bank_accounts": 1})]
    gate = gate_batch(batch(spark, records), Tail(high_water={"0-1": 42}), shipped())
    try:
        assert applied(gate) == [(ACC, 1, 0)] and gate.stats["held_transactions"] == 1
        assert gate.tail.high_water == {"0-1": 42}
    finally:
        gate.release()
