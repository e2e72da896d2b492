"""Transaction-consistent apply: every sink commit holds whole MySQL transactions, never half of one.

Debezium (`provide.transaction.metadata`) writes a BEGIN and an END per transaction to
`<prefix>.transaction`; the END counts the transaction's change events per table, and every change
event names its transaction (`transaction.id`, and its place among the table's events,
`data_collection_order`). A micro-batch ends wherever the Kafka offsets end, so it can hold a debit
without its credit. The gate keeps such a transaction out of the batch:

- A transaction is *complete* once its END and every event the END counts (of the topics the job
  reads) are in hand; until then it is *held*, and so is everything after it in the partitions it
  touches (a partition is applied as a prefix), and every transaction with a record in a held
  suffix (whole transactions, again) - a fixpoint over the partitions (`close_over`).
- Nothing is kept in memory: the held records stay in Kafka. Each batch records, per path, the
  *tail* it left (offset ranges per partition, and the transactions it applied whose END lies in
  them) in the control plane, keyed by (query id, batch id); the next batch reads the tail again
  and decides anew. A batch replayed after a crash reads the tail of the batch before it, so it
  decides the same; a record applied twice is written once (both sinks are idempotent per key and
  `_seq`, for Kafka Connect's re-sends).
- A transaction whose END or events do not come (a connector restarted mid-transaction, metadata
  lost) is released once the stream has moved `transactions.release_after` past its first record
  (Kafka timestamps: a backlog is held as it would have been live), and the held tail never grows
  past `transactions.max_held_records`: both alert.
- Events without a transaction (snapshot reads, a connector without metadata) flow, unless a held
  transaction before them in their partition holds them. So does a TRUNCATE: Debezium gives it a
  transaction id and a BEGIN but never an END (measured on MariaDB 10.11 / Debezium 3.x).
- A record of a transaction applied whole before (Kafka Connect re-sends after a crash, possibly
  without the END) flows at once: the tail keeps, per GTID source (`<domain>-<server>` or the server
  uuid), the *high-water mark*, the highest GTID sequence applied whole with every transaction of that
  source below it applied too (`next_high_water`). Ids that are not GTIDs get no mark.

The functions here are pure; the Spark edge (`gate_batch`) collects only the transactions that decide
the cut, never the batch.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .debezium import (OP, OP_TRUNCATE, PAYLOAD, TRANSACTION, TRANSACTION_TOPIC_SUFFIX, TXN_COLLECTION, TXN_COLLECTIONS,
                       TXN_END, TXN_EVENT_COUNT, TXN_ID, TXN_STATUS, TXN_TABLE_ORDER)
from .vocabulary import spark_string_literal

# A partition of a topic: (topic, partition).
TopicPartition = tuple[str, int]

# A GTID as Debezium writes a transaction id: MariaDB `<domain>-<server>-<sequence>`, MySQL
# `<server uuid>:<sequence>`; group 1 is the source whose sequence grows, group 2 the sequence.
GTID_PATTERN = r"^(.+)[:-]([0-9]{1,18})$"


def gtid_position(txn: str) -> tuple[str, int] | None:
    """(source, sequence) of a GTID transaction id, None for any other id."""
    match = re.match(GTID_PATTERN, txn)
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Part:
    """A transaction's change events in one partition (read in this batch or from the held tail)."""
    txn: str
    topic: str
    partition: int
    events: int  # distinct data_collection_order values: a re-sent event counts once
    first_offset: int
    last_offset: int
    first_ts_ms: int  # Kafka timestamp of its first record


@dataclass(frozen=True)
class End:
    """A transaction's END record on the transaction topic."""
    txn: str
    partition: int
    offset: int
    ts_ms: int


@dataclass(frozen=True)
class Released:
    """A transaction applied without being complete: its END or some of its events never came."""
    txn: str
    reason: str  # "timeout" | "size"
    records: int
    age_ms: int


@dataclass(frozen=True)
class Tail:
    """What a batch left for the next one: per partition the range [start, end) of records it read
    but did not apply, and the transactions it applied whose END is in a range (their END, read
    again, must not wait for events already applied)."""
    ranges: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)
    applied: frozenset[str] = frozenset()
    high_water: dict[str, int] = field(default_factory=dict)  # GTID source -> sequence (next_high_water)

    @property
    def records(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    def to_json(self) -> str:
        return json.dumps({"ranges": [[t, p, s, e] for (t, p), (s, e) in sorted(self.ranges.items())],
                           "applied": sorted(self.applied), "high_water": dict(sorted(self.high_water.items()))},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> Tail:
        if not text:
            return cls()
        doc = json.loads(text)
        return cls({(t, int(p)): (int(s), int(e)) for t, p, s, e in doc["ranges"]}, frozenset(doc["applied"]),
                   {source: int(seq) for source, seq in doc.get("high_water", {}).items()})

    def kafka_offsets(self) -> tuple[str, str, str]:
        """The Kafka source's `assign`, `startingOffsets`, `endingOffsets` JSON to read the ranges."""
        assign: dict[str, list[int]] = {}
        starting: dict[str, dict[str, int]] = {}
        ending: dict[str, dict[str, int]] = {}
        for (topic, partition), (start, end) in sorted(self.ranges.items()):
            assign.setdefault(topic, []).append(partition)
            starting.setdefault(topic, {})[str(partition)] = start
            ending.setdefault(topic, {})[str(partition)] = end
        return json.dumps(assign), json.dumps(starting), json.dumps(ending)


def transaction_topic_prefix(transaction_topic: str) -> str:
    """`oltp.transaction` -> `oltp`: Debezium's topic.prefix, which its table topics start with."""
    if not transaction_topic.endswith(TRANSACTION_TOPIC_SUFFIX):
        raise ValueError(f"a Debezium transaction topic ends in {TRANSACTION_TOPIC_SUFFIX!r}, got {transaction_topic!r}")
    return transaction_topic[: -len(TRANSACTION_TOPIC_SUFFIX)]


@dataclass
class Decision:
    """Which transactions wait, where each partition is cut, what was released."""
    held: set[str]
    cuts: dict[TopicPartition, int]  # first offset NOT applied, per partition with a held record
    released: list[Released]
    incomplete: set[str] = field(default_factory=set)  # held for themselves (the rest: after one of these)

    def applies(self, topic: str, partition: int, offset: int) -> bool:
        cut = self.cuts.get((topic, partition))
        return cut is None or offset < cut


def hold(incomplete: Iterable[Part], waiting_ends: Iterable[End], transaction_topic: str, now_ms: int,
         release_after_ms: int) -> Decision:
    """The first step: the incomplete transactions (their events in hand, `incomplete`, and their END
    if it came, `waiting_ends`) are held unless older than `release_after_ms` (their first record's
    Kafka timestamp), which releases them. Cuts at each held transaction's first record."""
    parts_by_txn: dict[str, list[Part]] = {}
    for part in incomplete:
        parts_by_txn.setdefault(part.txn, []).append(part)
    ends_by_txn: dict[str, list[End]] = {}
    for end in waiting_ends:
        ends_by_txn.setdefault(end.txn, []).append(end)
    decision = Decision(set(), {}, [])
    for txn in sorted(set(parts_by_txn) | set(ends_by_txn)):
        parts, ends = parts_by_txn.get(txn, []), ends_by_txn.get(txn, [])
        first_ts = min([p.first_ts_ms for p in parts] + [e.ts_ms for e in ends])
        if now_ms - first_ts >= release_after_ms:
            if parts:  # an END alone (its events applied, or never captured) releases nothing
                decision.released.append(Released(txn, "timeout", sum(p.events for p in parts), now_ms - first_ts))
            continue
        decision.held.add(txn)
        decision.incomplete.add(txn)
        _lower_cuts(decision.cuts, parts, ends, transaction_topic)
    return decision


def close_over(decision: Decision, overlapping: Iterable[Part], overlapping_ends: Iterable[End],
               transaction_topic: str) -> bool:
    """One step of the fixpoint: the complete transactions with a record at or after a cut
    (`overlapping`, with their ENDs) are held too, which can lower cuts in their other partitions.
    Returns whether a cut moved (then the caller looks for overlaps again)."""
    parts_by_txn: dict[str, list[Part]] = {}
    for part in overlapping:
        if part.txn not in decision.held:
            parts_by_txn.setdefault(part.txn, []).append(part)
    ends = [e for e in overlapping_ends if e.txn in parts_by_txn]
    # A transaction released (timed out) but after a cut waits for the next batch, whole.
    decision.released = [r for r in decision.released if r.txn not in parts_by_txn]
    before = dict(decision.cuts)
    for txn, parts in parts_by_txn.items():
        decision.held.add(txn)
        _lower_cuts(decision.cuts, parts, [e for e in ends if e.txn == txn], transaction_topic)
    return decision.cuts != before


def _lower_cuts(cuts: dict[TopicPartition, int], parts: list[Part], ends: list[End], transaction_topic: str) -> None:
    for tp, offset in [((p.topic, p.partition), p.first_offset) for p in parts] + \
                      [((transaction_topic, e.partition), e.offset) for e in ends]:
        cuts[tp] = min(cuts.get(tp, offset), offset)


def release_all(decision: Decision, parts: Iterable[Part], now_ms: int) -> None:
    """Over `transactions.max_held_records`: every held transaction is applied as it is; the incomplete
    ones are reported (alerted)."""
    records: dict[str, int] = {}
    first: dict[str, int] = {}
    for part in parts:
        if part.txn in decision.incomplete:
            records[part.txn] = records.get(part.txn, 0) + part.events
            first[part.txn] = min(first.get(part.txn, part.first_ts_ms), part.first_ts_ms)
    decision.released += [Released(txn, "size", records[txn], now_ms - first[txn]) for txn in sorted(records)]
    decision.held.clear()
    decision.incomplete.clear()
    decision.cuts.clear()


def held_records(cuts: dict[TopicPartition, int], read_through: dict[TopicPartition, int]) -> int:
    """Records (offsets) left after the cuts: what the next batch reads again."""
    return sum(max(0, read_through.get(tp, cut) - cut) for tp, cut in cuts.items())


def next_high_water(previous: dict[str, int], completed: dict[str, int], held: Iterable[str]) -> dict[str, int]:
    """The high-water marks after a batch: per GTID source, the highest sequence of a transaction
    completed (END and events) in it, `completed`, unless a held transaction of that source is at or
    below it (the mark then stays: everything at or below a mark was applied whole, so a record of
    such a transaction read again is a re-send). Marks only rise."""
    lowest_held: dict[str, int] = {}
    for position in filter(None, map(gtid_position, held)):
        lowest_held[position[0]] = min(lowest_held.get(position[0], position[1]), position[1])
    marks = dict(previous)
    for source, seq in completed.items():
        if seq < lowest_held.get(source, seq + 1):
            marks[source] = max(marks.get(source, seq), seq)
    return marks


def next_tail(decision: Decision, read_through: dict[TopicPartition, int], ends_after_cut: Iterable[End],
              high_water: dict[str, int] | None = None) -> Tail:
    """The tail for the next batch: [cut, read-through) per cut partition, the transactions applied now
    whose END lies in a range (`ends_after_cut`: every END at or after its partition's cut), the marks."""
    ranges = {tp: (cut, read_through[tp]) for tp, cut in decision.cuts.items() if cut < read_through.get(tp, cut)}
    applied = frozenset(e.txn for e in ends_after_cut if e.txn not in decision.held)
    return Tail(ranges, applied, dict(high_water or {}))


# --- Spark edge -------------------------------------------------------------------------------------

KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")
# The fixpoint moves a cut each round it continues; far more rounds than partitions means a bug.
MAX_ROUNDS = 1000


def _envelope_schema() -> str:
    """What the gate reads of a value: the change event's transaction block, or a BEGIN/END record."""
    return (f"struct<{PAYLOAD}:struct<{OP}:string,{TRANSACTION}:struct<{TXN_ID}:string,{TXN_TABLE_ORDER}:bigint>,"
            f"{TXN_STATUS}:string,{TXN_ID}:string,"
            f"{TXN_COLLECTIONS}:array<struct<{TXN_COLLECTION}:string,{TXN_EVENT_COUNT}:bigint>>>>")


@dataclass
class Gate:
    """One batch through the gate: the records to apply, what it held back (the tail, and its records,
    read by the next batch of this process from this batch's cache), what it did."""
    frame: object  # DataFrame of KAFKA_COLUMNS, table topics only
    tail: Tail
    stats: dict
    released: list[Released]
    held: object | None = None  # DataFrame of the tail's records (over the cached batch), or None
    _persisted: list = field(default_factory=list, repr=False)

    def release(self, held_too: bool = False) -> None:
        """Unpersist this batch's cache, unless the held records are still to be read from it."""
        if self.held is not None and not held_too:
            return
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()


def read_tail(spark, reader_options: dict[str, str], tail: Tail):
    """The tail's records, read again from Kafka (a batch read of fixed offset ranges): after a restart,
    when the previous batch's held records are not in memory."""
    assign, starting, ending = tail.kafka_offsets()
    reader = spark.read.format("kafka")
    for key, value in reader_options.items():
        if key.startswith("kafka.") or key == "failOnDataLoss":
            reader = reader.option(key, value)
    return (reader.option("assign", assign).option("startingOffsets", starting).option("endingOffsets", ending)
            .load().select(*KAFKA_COLUMNS))


def _relevant_sql(source, topic_sql: str) -> str:
    """SQL for 'the job reads this topic' (the Kafka source's own semantics: a Java regex, or the list)."""
    if source.topics is not None:
        return f"{topic_sql} IN ({', '.join(spark_string_literal(t) for t in source.topics)})"
    return f"{topic_sql} RLIKE {spark_string_literal('^(?:' + source.topic_pattern + ')$')}"


def _transactions_frame(raw, config, previous: Tail):
    """One row per transaction in the records: its change events (`events`: topic, partition, offset,
    Kafka timestamp, order among its table's events), its END(s) (`ends`), whether it is complete, its
    GTID source and sequence (null for other ids). One aggregation (one shuffle); the driver collects
    only the rows that decide the cut."""
    from pyspark.sql import functions as F

    tx = config.transactions
    is_end = F.col("topic") == F.lit(tx.topic)
    payload = F.from_json(F.col("value").cast("string"), _envelope_schema()).getField(PAYLOAD)
    meta = raw.select("topic", "partition", "offset", F.expr("unix_millis(timestamp)").alias("ts"), is_end.alias("is_end"),
                      F.when(~is_end & ~F.coalesce(payload[OP] == OP_TRUNCATE, F.lit(False)), payload[TRANSACTION][TXN_ID])
                      .when(is_end & (payload[TXN_STATUS] == TXN_END), payload[TXN_ID]).alias("txn"),
                      F.when(~is_end, payload[TRANSACTION][TXN_TABLE_ORDER]).alias("ord"),
                      F.when(is_end, payload[TXN_COLLECTIONS]).alias("collections"))
    grouped = meta.where(F.col("txn").isNotNull()).groupBy("txn").agg(
        F.collect_list(F.when(~F.col("is_end"), F.struct("topic", "partition", "offset", "ts", "ord"))).alias("events"),
        F.collect_list(F.when(F.col("is_end"), F.struct("partition", "offset", "ts"))).alias("ends"),
        F.first("collections", ignorenulls=True).alias("collections"), F.max("ts").alias("last_ts"))
    prefix = spark_string_literal(transaction_topic_prefix(tx.topic) + ".")
    topic_of = f"concat({prefix}, c.{TXN_COLLECTION})"
    # Complete: an END, and for every table it counts that the job reads, that many distinct events.
    complete = F.expr(
        f"size(ends) > 0 AND coalesce(forall(collections, c -> NOT ({_relevant_sql(config.source, topic_of)}) "
        f"OR size(array_distinct(transform(filter(events, e -> e.topic = {topic_of}), e -> e.ord))) "
        f">= c.{TXN_EVENT_COUNT}), true)")
    applied_before = F.col("txn").isin(sorted(previous.applied)) if previous.applied else F.lit(False)
    source = F.regexp_extract("txn", GTID_PATTERN, 1)
    seq = F.regexp_extract("txn", GTID_PATTERN, 2)
    positioned = grouped.select("*", F.when(source != "", source).alias("source"),
                                F.when(seq != "", seq.cast("bigint")).alias("seq"))
    below_mark = F.lit(False)
    for mark_source, mark in sorted(previous.high_water.items()):
        below_mark = below_mark | ((F.col("source") == mark_source) & (F.col("seq") <= mark))
    return positioned.select("txn", "events", "ends", "last_ts", "source", "seq",
                             (complete | applied_before | F.coalesce(below_mark, F.lit(False))).alias("complete"))


def _rows(frame) -> tuple[list[Part], list[End]]:
    """The collected transaction rows as Parts (events folded per partition) and Ends."""
    parts: list[Part] = []
    ends: list[End] = []
    for row in frame.collect():
        by_partition: dict[TopicPartition, list] = {}
        for e in row["events"]:
            by_partition.setdefault((e["topic"], e["partition"]), []).append(e)
        for (topic, partition), events in sorted(by_partition.items()):
            parts.append(Part(row["txn"], topic, partition, len({e["ord"] for e in events}),
                              min(e["offset"] for e in events), max(e["offset"] for e in events),
                              min(e["ts"] for e in events)))
        ends += [End(row["txn"], e["partition"], e["offset"], e["ts"]) for e in row["ends"]]
    return parts, ends


def _at_or_after(cuts: dict[TopicPartition, int], transaction_topic: str):
    """SQL condition on a transaction row: an event or END at or after its partition's cut."""
    from pyspark.sql import functions as F
    events = [f"(e.topic = {spark_string_literal(t)} AND e.partition = {p} AND e.offset >= {c})"
              for (t, p), c in sorted(cuts.items()) if t != transaction_topic]
    ends = [f"(e.partition = {p} AND e.offset >= {c})" for (t, p), c in sorted(cuts.items()) if t == transaction_topic]
    terms = [f"exists(events, e -> {' OR '.join(events)})"] if events else []
    terms += [f"exists(ends, e -> {' OR '.join(ends)})"] if ends else []
    return F.expr(" OR ".join(terms)) if terms else F.lit(False)


def _past_cuts(cuts: dict[TopicPartition, int]):
    """Column condition on Kafka records: at or after their partition's cut."""
    from pyspark.sql import functions as F
    condition = F.lit(False)
    for (topic, partition), cut in sorted(cuts.items()):
        condition = condition | ((F.col("topic") == topic) & (F.col("partition") == partition) & (F.col("offset") >= cut))
    return condition


def gate_batch(batch_df, previous: Tail, config, held=None, end_offsets=None) -> Gate:
    """The batch, with the records the previous batch held back (`held`, kept in memory by this
    process, else read again from Kafka by `previous`), cut so that only whole transactions pass.
    With `transactions.consistent` off, what was held is applied as it is and nothing is held.
    `end_offsets()`: where this batch ends per partition (Spark's offset log), asked only when
    something is held (default: the records' own last offsets, one more Spark job).

    Ages are measured in stream time, the newest Kafka timestamp among the records of a transaction
    (events without one, snapshot reads, do not move it): a backlog read
    long after it was written is held and released exactly as it would have been live (and a replay
    decides the same)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    tx = config.transactions
    spark = batch_df.sparkSession
    raw = batch_df.select(*KAFKA_COLUMNS)
    if held is not None:
        raw = raw.unionByName(held)
    elif previous.ranges:
        raw = raw.unionByName(read_tail(spark, config.reader_options(), previous))
    not_tx_topic = F.col("topic") != F.lit(tx.topic or "")
    stats = {"tail_read": previous.records, "tail_in_memory": held is not None}
    if not tx.consistent or not tx.topic:
        return Gate(raw.where(not_tx_topic), Tail(), stats, [])
    raw = raw.persist(StorageLevel.MEMORY_AND_DISK)
    txns = _transactions_frame(raw, config, previous).persist(StorageLevel.MEMORY_AND_DISK)
    steps: dict[str, float] = {}
    clock = [time.monotonic()]

    def step(name: str) -> None:
        now = time.monotonic()
        steps[name] = round(steps.get(name, 0.0) + now - clock[0], 3)
        clock[0] = now

    try:
        # Stream time, and per GTID source the newest transaction completed here; fills the cache of `txns`.
        sources = txns.groupBy("source").agg(F.max("last_ts").alias("last_ts"), F.max(
            F.when(F.col("complete") & (F.size("ends") > 0), F.col("seq"))).alias("completed")).collect()
        now_ms = max((row["last_ts"] for row in sources if row["last_ts"] is not None), default=0)
        completed = {row["source"]: row["completed"] for row in sources
                     if row["source"] is not None and row["completed"] is not None}
        step("group_s")
        # The incomplete transactions; an old END alone (its events applied long ago) is dropped unseen.
        old = now_ms - tx.release_after_ms
        end_alone_old = (F.size("events") == 0) & F.expr(f"forall(ends, e -> e.ts < {old})")
        parts, ends = _rows(txns.where(~F.col("complete") & ~end_alone_old))
        decision = hold(parts, ends, tx.topic, now_ms, tx.release_after_ms)
        step("incomplete_s")
        rounds, ends_after = 0, []
        while decision.cuts:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise RuntimeError(f"transaction gate: the cuts did not settle in {MAX_ROUNDS} rounds")
            # Every transaction with a record at or after a cut; the cuts only move down, so the last
            # round sees every transaction the tail holds a record of.
            found_parts, found_ends = _rows(txns.where(_at_or_after(decision.cuts, tx.topic)))
            parts = list({(p.txn, p.topic, p.partition): p for p in parts + found_parts}.values())
            overlapping = {p.txn for p in found_parts
                           if p.last_offset >= decision.cuts.get((p.topic, p.partition), p.last_offset + 1)} - decision.held
            # Settled when no cut moved: the records at or after the cuts, so the rows found, stay the same.
            if not overlapping or not close_over(decision, [p for p in found_parts if p.txn in overlapping],
                                                 [e for e in found_ends if e.txn in overlapping], tx.topic):
                ends_after = [e for e in found_ends if e.offset >= decision.cuts.get((tx.topic, e.partition), e.offset + 1)]
                break
        step("rounds_s")
        read_through: dict[TopicPartition, int] = {}
        if decision.cuts:
            read_through = end_offsets() if end_offsets is not None else {
                (r[0], r[1]): r[2] + 1 for r in raw.groupBy("topic", "partition").agg(F.max("offset")).collect()}
            if held_records(decision.cuts, read_through) > tx.max_held_records:
                release_all(decision, parts, now_ms)
                ends_after = []
            step("hold_s")
        tail = next_tail(decision, read_through, ends_after, next_high_water(previous.high_water, completed, decision.held))
        stats.update({"held_transactions": len(decision.held), "incomplete_transactions": len(decision.incomplete),
                      "held_records": tail.records, "held_topics": sorted({t for t, _ in tail.ranges}),
                      "released_transactions": len(decision.released),
                      "gate_rounds": rounds, "steps": steps})
        held_frame = raw.where(_past_cuts(decision.cuts)) if decision.cuts else None
        return Gate(raw.where(not_tx_topic & ~_past_cuts(decision.cuts)), tail, stats, decision.released,
                    held_frame, [raw])
    except BaseException:
        raw.unpersist()
        raise
    finally:
        txns.unpersist()
