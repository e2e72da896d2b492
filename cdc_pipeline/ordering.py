"""The order of changes: a numeric sequence from the binlog coordinates, and "last change per key".

The sequence (`_seq` in every sink) packs the MySQL binlog coordinates into one integer:

    seq = (file_number * 10**12 + pos) * 10**6 + row

    file_number  the numeric suffix of source.file ("mysql-bin.000123" -> 123)
    pos          source.pos: the position of the row event in that file (verified on our stack: two
                 UPDATEs in one transaction carry different positions)
    row          source.row: the index of the row within that row event

Each field sits in its own block of decimal digits, so comparing two sequences as numbers is the same
as comparing (file_number, pos, row) as tuples - never a string compare (invariant 3). The bounds below
keep every field inside its block (a pos of 10**12 would carry into the file number and make a later
change compare as an earlier one) and keep the whole value below 10**38, so it fits the DECIMAL(38,0)
that both sinks use (`_seq NUMERIC(38,0)` in PostgreSQL, `decimal(38,0)` in Iceberg/Spark); BIGINT is
too small (file 1, pos 4699 is already 10**18).

    file_number < 10**20  MySQL stops at 2**31 - 1 binlog files
    pos         < 10**12  a binlog file is ~1 GiB (max_binlog_size), 1 TB leaves room for huge transactions
    row         < 10**6   rows of one row event (binlog-row-event-max-size is 8 KiB by default)

Limits of the scheme: the sequence only grows while the binlog numbering does. RESET MASTER, or a
failover to a server with its own binlog numbering, restarts it; that needs a fresh snapshot into empty
sinks. Kafka offsets order events only within a partition; Debezium routes a key always to the same
partition, so (seq, offset) is a total order per key.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from .errors import SequenceError

FILE_NUMBER_LIMIT = 10**20
POS_LIMIT = 10**12
ROW_LIMIT = 10**6
SEQ_LIMIT = FILE_NUMBER_LIMIT * POS_LIMIT * ROW_LIMIT  # == 10**38: every sequence fits DECIMAL(38,0)

_BINLOG_NAME = re.compile(r"^.+\.([0-9]+)$")

E = TypeVar("E")


def binlog_file_number(file_name: str) -> int:
    """The numeric suffix of a binlog file name: "mysql-bin.000123" -> 123.

    Strict: raises SequenceError for a name without a numeric suffix after the last dot.
    """
    if not isinstance(file_name, str):
        raise SequenceError(f"binlog file name must be a string like 'mysql-bin.000123', got {file_name!r}")
    match = _BINLOG_NAME.fullmatch(file_name)
    if match is None:
        raise SequenceError(
            f"binlog file name must end in '.<digits>' like 'mysql-bin.000123', got {file_name!r}"
        )
    number = int(match.group(1))
    if number >= FILE_NUMBER_LIMIT:
        raise SequenceError(f"binlog file number must be < 10**20, got {number} from {file_name!r}")
    return number


def _check_part(name: str, value: Any, limit: int, limit_text: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SequenceError(f"{name} must be an integer, got {value!r}")
    if not 0 <= value < limit:
        raise SequenceError(f"{name} must be in [0, {limit_text}), got {value}")


def change_sequence(file_number: int, pos: int, row: int) -> int:
    """The numeric change sequence `(file_number * 10**12 + pos) * 10**6 + row` (see module doc).

    Monotonic in (file_number, pos, row); raises SequenceError for a part that is not an int or is
    outside its bounds (which would break monotonicity or overflow DECIMAL(38,0)).
    """
    _check_part("binlog file number", file_number, FILE_NUMBER_LIMIT, "10**20")
    _check_part("binlog position", pos, POS_LIMIT, "10**12")
    _check_part("binlog row", row, ROW_LIMIT, "10**6")
    return (file_number * POS_LIMIT + pos) * ROW_LIMIT + row


def sequence_of(binlog_file: str, pos: int, row: int) -> int:
    """change_sequence from the raw coordinates: sequence_of("mysql-bin.000001", 4699, 0)."""
    return change_sequence(binlog_file_number(binlog_file), pos, row)


def split_sequence(seq: int) -> tuple[int, int, int]:
    """The inverse of change_sequence: seq -> (file_number, pos, row). For debugging and tests."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < SEQ_LIMIT:
        raise SequenceError(f"sequence must be an integer in [0, 10**38), got {seq!r}")
    rest, row = divmod(seq, ROW_LIMIT)
    file_number, pos = divmod(rest, POS_LIMIT)
    return file_number, pos, row


# --- last change per key ------------------------------------------------------------------------------
#
# Snapshot rows (op=r) all carry the binlog position at which the snapshot was taken, with row 0, so
# they share one sequence. That is still a correct order: a snapshot reads each key exactly once, so no
# two snapshot rows of one key compete, and every streamed change after the snapshot has a larger
# position. If two events of one key ever tie on seq, the Kafka offset breaks the tie: Debezium writes a
# key always to the same partition, and offsets order events within a partition.


def key_tuple(event: Any) -> tuple:
    """The event's key as a tuple of values, in key-column order (the order of `event.key`)."""
    return tuple(event.key.values())


def _offset(event: Any) -> int:
    offset = getattr(event, "offset", None)
    if offset is None:
        raise ValueError(f"event has no Kafka offset to break ties with: {event!r}")
    return offset


def order_key(event: Any) -> tuple[int, int]:
    """(seq, Kafka offset): the order of two events of the same key; larger is later."""
    return (event.seq, _offset(event))


def last_change_per_key(events: Iterable[E], key: Callable[[E], Hashable] = key_tuple) -> dict[Hashable, E]:
    """Reference implementation of "the last change per key by (seq, Kafka offset)".

    `events` are objects with `.key` (dict of key columns), `.seq` and `.offset`, in any order. Returns
    key tuple -> the event with the largest (seq, offset). The event may be a delete: then the key's
    final state is "absent". A replayed duplicate (same seq, larger offset) wins a tie, which is harmless
    because it carries the same change.
    """
    last: dict[Hashable, E] = {}
    for event in events:
        k = key(event)
        current = last.get(k)
        if current is None or order_key(event) > order_key(current):
            last[k] = event
    return last


def dedupe_replays(events: Iterable[E], key: Callable[[E], Hashable] = key_tuple) -> list[E]:
    """Drop re-deliveries of the same change: one event per (key, seq), the first by Kafka offset.

    After a crash, Kafka Connect re-sends the changes after its last committed source offset; they land
    at new Kafka offsets, so the (topic, partition, offset) uniqueness of the history does not catch
    them. The same (seq, key) is one change in MySQL, and the history must keep exactly one of them
    (invariant 1). Different keys may share a seq (all rows of a snapshot do), so the key is part of
    the identity. Returns the kept events in their input order.
    """
    events = list(events)
    best: dict[tuple[Hashable, int], int] = {}
    for index, event in enumerate(events):
        identity = (key(event), event.seq)
        kept = best.get(identity)
        if kept is None or _offset(event) < _offset(events[kept]):
            best[identity] = index
    keep = set(best.values())
    return [event for index, event in enumerate(events) if index in keep]
