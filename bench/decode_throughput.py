#!/usr/bin/env python3
"""Decode throughput: the JVM decoder (cdc_pipeline.jvm_decode, java/debezium-decoder) vs the Python one
(batch.decode_batch: mapPartitions over decode_partition) on the same Debezium records.

The records are shaped like the real topics: tests/data/*.json are the templates (their embedded schemas
and envelopes, byte for byte the JsonConverter's compact layout), with the row values varied per record
(ids, amounts, accounts, timestamps, binlog positions; ~70 % bank_accounts, 30 % transactions; the ops
as in the templates, and a tombstone after each delete). They are written once to a Parquet file, so
both decoders read the same JVM-only source (like the Kafka source) in a local[2] session; the time
of a plain scan of that file is measured too and printed as the baseline.

Each decoder's full output goes to Spark's `noop` sink (every column evaluated), after one warm-up run
on a slice; records/s is records / wall time of the best of --repeats runs (also printed with the scan's
time taken off). Identity: a hash of every
row of each output (xxhash64 per row, maps as sorted entries, summed) plus the count per kind.

    .venv/bin/python bench/decode_throughput.py                 (200 000 records)
    .venv/bin/python bench/decode_throughput.py --records 50000 --repeats 1
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cdc_pipeline.batch import decode_batch  # noqa: E402
from cdc_pipeline.jvm_decode import decode_batch_jvm  # noqa: E402

DATA = REPO_ROOT / "tests" / "data"
TOPICS = {"oltp.bankdb.bank_accounts": 0.7, "oltp.bankdb.transactions": 0.3}
INPUT_SCHEMA = "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp"
KEYS = {topic: ("id",) for topic in TOPICS}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per decoder (best counts)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--chunk", type=int, default=20_000, help="records per createDataFrame while writing the input")
    return p.parse_args()


# --- realistic records ------------------------------------------------------------------------------------


def _decimal_b64(unscaled: int) -> str:
    length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
    return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode("ascii")


def _value_for(field: dict, rng: random.Random, row_id: int):
    name, kind, semantic = field["field"], field["type"], field.get("name")
    if name == "id":
        return row_id
    if semantic == "org.apache.kafka.connect.data.Decimal":
        return _decimal_b64(rng.randint(-10**9, 10**11) if rng.random() < 0.3 else rng.randint(0, 10**8))
    if semantic == "io.debezium.time.MicroTimestamp":
        return rng.randint(1_600_000_000_000_000, 1_800_000_000_000_000)
    if semantic == "io.debezium.time.Timestamp":
        return rng.randint(1_600_000_000_000, 1_800_000_000_000)
    if semantic == "io.debezium.time.ZonedTimestamp":
        return (f"20{rng.randint(20, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z")
    if semantic == "io.debezium.time.Date":
        return rng.randint(18_000, 21_000)
    if semantic == "io.debezium.data.Enum":
        return rng.choice(field.get("parameters", {}).get("allowed", "A").split(","))
    if kind == "string":
        if field.get("optional") and rng.random() < 0.2:
            return None
        return rng.choice(["KB Bank", "Shinhan", "Woori", "ATM", "Salary", "Card 4411"]) + f" {rng.randint(100, 999)}-{rng.randint(10**5, 10**6 - 1)}"
    if kind == "int16":
        return rng.randint(0, 1)
    if kind in ("int32", "int64"):
        return rng.randint(1, 10**6)
    return None


def _templates():
    out = {}
    for topic in TOPICS:
        records = json.loads((DATA / f"{topic}.json").read_text(encoding="utf-8"))
        out[topic] = [(json.loads(r["key"]), json.loads(r["value"])) for r in records if r["value"] is not None]
    return out


def realistic_records(n: int, seed: int):
    """n Kafka rows (key, value, topic, partition, offset, timestamp) shaped like the golden records."""
    import datetime as dt
    rng = random.Random(seed)
    templates = _templates()
    next_id = {topic: 1000 for topic in TOPICS}
    offsets = {}
    pos = 4_699
    base_ts = 1_795_320_301_000
    produced = 0
    topics, weights = list(TOPICS), list(TOPICS.values())
    while produced < n:
        topic = rng.choices(topics, weights)[0]
        key_doc, value_doc = copy.deepcopy(rng.choice(templates[topic]))
        payload = value_doc["payload"]
        fields = next(f for f in value_doc["schema"]["fields"] if f["field"] == "after")["fields"]
        row_id = next_id[topic] if payload["op"] in ("r", "c") else rng.randint(1, max(1, next_id[topic] - 1))
        if payload["op"] in ("r", "c"):
            next_id[topic] += 1
        for image in ("before", "after"):
            if payload.get(image) is not None:
                payload[image] = {f["field"]: _value_for(f, rng, row_id) for f in fields}
        pos += rng.randint(100, 900)
        payload["source"].update(ts_ms=base_ts + produced, pos=pos, row=rng.randint(0, 3), file="mysql-bin.000003")
        payload["ts_ms"] = base_ts + produced + 50
        key_doc["payload"] = {"id": row_id}
        key = json.dumps(key_doc, separators=(",", ":")).encode()
        partition = row_id % 2
        ts = dt.datetime(2026, 11, 22, 4, 5) + dt.timedelta(milliseconds=produced)
        for value in ([json.dumps(value_doc, separators=(",", ":")).encode()]
                      + ([None] if payload["op"] == "d" else [])):  # Debezium's tombstone after a delete
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            yield (key, value, topic, partition, offset, ts)
            produced += 1
            if produced >= n:
                return


# --- measuring --------------------------------------------------------------------------------------------


def output_hash(decoded):
    """(rows, sum of per-row xxhash64 as a decimal, count per kind): order-insensitive, maps sorted."""
    from pyspark.sql import functions as F
    cols = [F.array_sort(F.map_entries(c)).alias(c) if c == "_values" else F.col(c) for c in decoded.columns]
    row_hash = F.xxhash64(*cols).cast("decimal(38,0)")
    total = decoded.select(row_hash.alias("h")).agg(F.count("*").alias("n"), F.sum("h").alias("h")).first()
    kinds = {r["_kind"]: r["count"] for r in decoded.groupBy("_kind").count().collect()}
    return total["n"], str(total["h"]), dict(sorted(kinds.items()))


def timed(label: str, make_frame, repeats: int, records: int) -> float:
    best = None
    for attempt in range(repeats):
        started = time.perf_counter()
        make_frame().write.format("noop").mode("overwrite").save()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
        print(f"  {label:<22} run {attempt + 1}: {elapsed:7.2f} s  {records / elapsed:>10,.0f} records/s", flush=True)
    return best


def main():
    args = parse_args()
    os.environ.setdefault("TZ", "UTC")
    from cdc_pipeline.spark_session import build_session
    from pyspark.sql import functions as F

    spark = build_session(None, app_name="cdc-bench-decode", master=args.master,
                          extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
                                 "spark.sql.files.maxPartitionBytes": str(32 * 1024 * 1024)})
    workdir = Path(tempfile.mkdtemp(prefix="cdc-decode-bench-"))
    try:
        path = str(workdir / "records.parquet")
        started = time.perf_counter()
        chunk, written, raw_bytes = [], 0, 0
        for row in realistic_records(args.records, args.seed):
            chunk.append(row)
            raw_bytes += len(row[0]) + len(row[1] or b"")
            if len(chunk) == args.chunk:
                spark.createDataFrame(chunk, INPUT_SCHEMA).write.mode("append").parquet(path)
                written += len(chunk)
                chunk = []
        if chunk:
            spark.createDataFrame(chunk, INPUT_SCHEMA).write.mode("append").parquet(path)
            written += len(chunk)
        source = spark.read.parquet(path)
        partitions = source.rdd.getNumPartitions()
        print(f"input: {written:,} records ({raw_bytes / written:,.0f} bytes of key+value each, {raw_bytes / 1e6:,.0f} MB), "
              f"{partitions} partitions, written in {time.perf_counter() - started:.1f} s; master {args.master}, "
              f"{os.cpu_count()} CPUs", flush=True)

        warm = source.limit(min(20_000, written))  # JIT and Python workers warm
        decode_batch(warm, KEYS).write.format("noop").mode("overwrite").save()
        decode_batch_jvm(warm, KEYS).write.format("noop").mode("overwrite").save()

        scan = timed("scan only (baseline)", lambda: source.select(F.length("value"), "key", "topic"), args.repeats, written)
        jvm = timed("JVM decoder", lambda: decode_batch_jvm(source, KEYS), args.repeats, written)
        python = timed("Python decoder", lambda: decode_batch(source, KEYS), args.repeats, written)

        print("hashing both outputs ...", flush=True)
        jvm_hash = output_hash(decode_batch_jvm(source, KEYS))
        python_hash = output_hash(decode_batch(source, KEYS))
        print()
        print(f"records:          {written:,}")
        print(f"scan only:        {written / scan:>12,.0f} records/s  ({scan:.2f} s)")
        print(f"JVM decoder:      {written / jvm:>12,.0f} records/s  ({jvm:.2f} s)")
        print(f"Python decoder:   {written / python:>12,.0f} records/s  ({python:.2f} s)")
        print(f"ratio JVM/Python: {python / jvm:>12.1f} x")
        if jvm > scan and python > scan:
            print(f"without the scan: JVM {written / (jvm - scan):,.0f} records/s, Python {written / (python - scan):,.0f} "
                  f"records/s, ratio {(python - scan) / (jvm - scan):.1f} x")
        print(f"JVM output:       rows={jvm_hash[0]:,} hash={jvm_hash[1]} kinds={jvm_hash[2]}")
        print(f"Python output:    rows={python_hash[0]:,} hash={python_hash[1]} kinds={python_hash[2]}")
        print(f"outputs identical: {jvm_hash == python_hash}")
        return 0 if jvm_hash == python_hash else 1
    finally:
        spark.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
