"""The change sequence from binlog coordinates, and last change per key."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

from cdc_pipeline.errors import PipelineError, SequenceError
from cdc_pipeline.ordering import (
    SEQ_LIMIT,
    binlog_file_number,
    change_sequence,
    dedupe_replays,
    last_change_per_key,
    order_key,
    sequence_of,
    split_sequence,
)

from cdc_messages import ACCOUNTS_TOPIC, decode, golden


@pytest.mark.parametrize(
    "name, number",
    [("mysql-bin.000123", 123), ("mysql-bin.000001", 1), ("host.example-bin.1000000", 1000000), ("b.0", 0),
     ("mysql-bin.2147483647", 2147483647)],
)
def test_binlog_file_number(name, number):
    assert binlog_file_number(name) == number


@pytest.mark.parametrize(
    "name",
    ["mysql-bin", "mysql-bin.", "mysql-bin.12a", "mysql-bin.-1", "mysql-bin.+5", "000123", ".1", "",
     "mysql-bin.000001\n", "mysql-bin.\u0663", "mysql-bin.1 ", None, 123, "mysql-bin." + "9" * 21],
)
def test_binlog_file_number_is_strict(name):
    with pytest.raises(SequenceError) as caught:
        binlog_file_number(name)
    assert repr(name)[:20] in str(caught.value) or "10**20" in str(caught.value)
    assert isinstance(caught.value, PipelineError) and isinstance(caught.value, ValueError)


def test_change_sequence_layout():
    assert change_sequence(1, 4699, 0) == 1_000_000_004_699_000_000
    assert change_sequence(123, 456, 7) == (123 * 10**12 + 456) * 10**6 + 7
    assert sequence_of("mysql-bin.000123", 456, 7) == change_sequence(123, 456, 7)
    assert change_sequence(0, 0, 0) == 0


def test_change_sequence_is_monotonic_in_file_pos_row():
    edges = [0, 1, 10**6 - 1]
    coordinates = sorted(
        set(itertools.product([0, 1, 2, 10**20 - 1], [0, 1, 4699, 10**12 - 1], edges))
    )  # tuple order == (file, pos, row) order
    sequences = [change_sequence(*c) for c in coordinates]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    # the carries that bounds prevent: a later pos/file must never compare smaller
    assert change_sequence(1, 5, 999_999) < change_sequence(1, 6, 0)
    assert change_sequence(1, 10**12 - 1, 999_999) < change_sequence(2, 0, 0)


def test_change_sequence_fits_decimal_38_0():
    largest = change_sequence(10**20 - 1, 10**12 - 1, 10**6 - 1)
    assert largest == SEQ_LIMIT - 1 == 10**38 - 1
    assert len(str(largest)) == 38


@pytest.mark.parametrize(
    "file_number, pos, row, part",
    [(-1, 0, 0, "file number"), (10**20, 0, 0, "file number"), (1, -1, 0, "position"), (1, 10**12, 0, "position"),
     (1, 0, -1, "row"), (1, 0, 10**6, "row"), (True, 0, 0, "file number"), (1, 2.0, 0, "position"), (1, 0, "0", "row")],
)
def test_change_sequence_bounds(file_number, pos, row, part):
    with pytest.raises(SequenceError) as caught:
        change_sequence(file_number, pos, row)
    assert part in str(caught.value)


def test_split_sequence_inverts_change_sequence():
    rng = random.Random(7)
    for _ in range(200):
        parts = (rng.randrange(10**20), rng.randrange(10**12), rng.randrange(10**6))
        assert split_sequence(change_sequence(*parts)) == parts
    for bad in (-1, 10**38, "1", True):
        with pytest.raises(SequenceError):
            split_sequence(bad)


def test_golden_changes_of_one_key_have_increasing_sequences():
    events = [decode(r) for r in golden(ACCOUNTS_TOPIC) if r["partition"] == 0]
    id6 = [e for e in events if e.key == {"id": 6}]
    assert [e.op for e in id6] == ["c", "u", "u", "u", "d"]
    assert [e.seq for e in id6] == sorted(e.seq for e in id6) and len({e.seq for e in id6}) == 5
    snapshot = [e for e in events if e.op == "r"]
    assert all(e.seq < id6[0].seq for e in snapshot)


# --- last change per key ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    key: dict
    seq: int
    offset: int
    label: str = ""


def test_last_change_per_key_takes_the_largest_sequence_whatever_the_input_order():
    events = [
        Ev({"id": 1}, 10, 0, "c1"), Ev({"id": 1}, 30, 2, "u1"), Ev({"id": 1}, 20, 1, "u1-old"),
        Ev({"id": 2}, 15, 5, "c2"), Ev({"id": 2}, 40, 6, "d2"),
        Ev({"id": 3}, 5, 9, "r3"),
    ]
    rng = random.Random(3)
    for _ in range(50):
        shuffled = events[:]
        rng.shuffle(shuffled)
        last = last_change_per_key(shuffled)
        assert {k: e.label for k, e in last.items()} == {(1,): "u1", (2,): "d2", (3,): "r3"}


def test_ties_on_sequence_are_broken_by_kafka_offset():
    # snapshot rows share one sequence; a key's later event is at the larger offset of its partition
    a, b = Ev({"id": 1}, 100, 3, "first"), Ev({"id": 1}, 100, 8, "second")
    assert last_change_per_key([b, a])[(1,)].label == "second"
    assert last_change_per_key([a, b])[(1,)].label == "second"
    assert order_key(a) < order_key(b)


def test_sequence_beats_offset():
    newer_seq_lower_offset = Ev({"id": 1}, 200, 1, "newer")
    older_seq_higher_offset = Ev({"id": 1}, 100, 9, "older")
    assert last_change_per_key([newer_seq_lower_offset, older_seq_higher_offset])[(1,)].label == "newer"


def test_composite_keys_and_golden_events():
    events = [Ev({"a": 1, "b": "x"}, 1, 0, "x"), Ev({"a": 1, "b": "y"}, 2, 1, "y"), Ev({"a": 1, "b": "x"}, 3, 2, "x2")]
    assert {k: e.label for k, e in last_change_per_key(events).items()} == {(1, "x"): "x2", (1, "y"): "y"}
    last = last_change_per_key(decode(r) for r in golden(ACCOUNTS_TOPIC))
    assert {k: e.op for k, e in last.items()} == {(1,): "r", (2,): "r", (3,): "r", (4,): "r", (5,): "r", (6,): "d"}


def test_events_without_offset_are_refused():
    @dataclass
    class NoOffset:
        key: dict
        seq: int
        offset: int | None = None

    with pytest.raises(ValueError):
        last_change_per_key([NoOffset({"id": 1}, 1, 0), NoOffset({"id": 1}, 1)])


def test_dedupe_replays_keeps_one_delivery_per_key_and_sequence():
    original = Ev({"id": 1}, 50, 10, "original")
    replay = Ev({"id": 1}, 50, 17, "replay")  # Connect re-sent it after a crash, at a new offset
    same_seq_other_key = Ev({"id": 2}, 50, 11, "other key")  # snapshot rows share a sequence
    later = Ev({"id": 1}, 60, 12, "later")
    kept = dedupe_replays([replay, original, same_seq_other_key, later])
    assert [e.label for e in kept] == ["original", "other key", "later"]
    assert dedupe_replays([]) == []
    twice = Ev({"id": 3}, 1, 1)
    assert dedupe_replays([twice, twice]) == [twice]
