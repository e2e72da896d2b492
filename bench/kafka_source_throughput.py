#!/usr/bin/env python3
"""Read throughput of Spark's Kafka source (`format("kafka")`, spark-sql-kafka-0-10) against a plain
confluent-kafka consumer, on the stack's real Debezium topics.

Both read oltp.bankdb.bank_accounts and oltp.bankdb.transactions, all partitions, from the log start
to the current end: Debezium's JSON change events (key and value with their schema), as Kafka Connect's
producer wrote them (zstd record batches, conf/connect-distributed.properties). In the same run:
  (a) Spark's Kafka source into the `noop` sink (Trigger.AvailableNow, startingOffsets earliest, a new
      checkpoint each run) in a local[2] session; --spark-runs times (the first one warms the JVM);
  (b) a plain confluent-kafka consumer: every partition assigned (no group), reading exactly the
      offsets of the fastest Spark run, in batches of up to 10 000 records.
Prints records, MB (key + value bytes, uncompressed, 10^6 bytes), seconds and records/s of each, the
ratio Spark / plain (goal >= 0.5), and the compression on the wire: the record batches on the broker's
disk (the .log segments under <state dir>/kafka/data/<topic>-<partition>/, stored as produced) against
the uncompressed bytes read.

The topics hold what the stack has seen so far. Below ~50 000 records the figures are mostly start-up
cost; --generate N first writes N row changes to bankdb with stack.workload.RandomWorkload (they stay:
ordinary bankdb changes, which a running job applies too) and waits until Debezium has put them on the
topics. The streaming job may run meanwhile, but it competes for the cores: `make stop` first for
figures worth quoting.

    make bench-source        (or: .venv/bin/python bench/kafka_source_throughput.py --generate 100000)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import bench_support as bs

MIN_RECORDS = 50_000
GOAL_RATIO = 0.5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generate", type=int, default=0, metavar="N",
                   help="first write N row changes to bankdb (stack.workload.RandomWorkload) and wait until they "
                        f"are on the topics; worth it when the topics hold fewer than {MIN_RECORDS:,} records")
    p.add_argument("--seed", type=int, default=None, help="seed of the --generate workload (default: the time)")
    p.add_argument("--spark-runs", type=int, default=2, help="timed Spark runs (the first one warms the JVM; default 2)")
    p.add_argument("--timeout", type=float, default=600, help="bound on each measurement, seconds (default 600)")
    return p.parse_args()


# --- the broker's log on disk --------------------------------------------------------------------------

def log_dir_bytes(topics) -> dict | None:
    """Bytes of the topics' partition directories under the broker's log dir: `segments` = the .log
    files (the record batches as produced, compressed; what fetches send), `allocated` = every file's
    blocks on disk (the .index / .timeindex of the active segment are preallocated sparse files, so
    their apparent size says nothing). None when the log dir is not on this machine."""
    data = bs.SETTINGS.state_dir / "kafka" / "data"
    out = {"segments": 0, "allocated": 0, "partitions": 0, "dir": data}
    for topic in topics:
        for part_dir in data.glob(f"{topic}-*"):
            suffix = part_dir.name[len(topic) + 1:]
            if not part_dir.is_dir() or not suffix.isdigit():
                continue  # e.g. <topic>-<p>.<id>-delete of a deleted topic
            out["partitions"] += 1
            for f in part_dir.iterdir():
                try:
                    st = f.stat()
                except OSError:
                    continue  # a segment deleted or renamed meanwhile
                out["allocated"] += st.st_blocks * 512
                if f.suffix == ".log":
                    out["segments"] += st.st_size
    return out if out["partitions"] else None


# --- Spark ---------------------------------------------------------------------------------------------

def spark_session():
    from cdc_pipeline.spark_session import build_session

    try:
        spark = build_session(None, app_name="cdc-bench-kafka-source", master="local[2]",
                              extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    spark.sparkContext.setLogLevel("WARN")
    return spark


def kafka_jars() -> list[str]:
    from cdc_pipeline.spark_session import spark_jars
    return [j for j in spark_jars() if Path(j).name.startswith(("spark-sql-kafka", "kafka-clients"))]


def _offsets(value) -> dict[str, dict[int, int]]:
    if isinstance(value, str):
        value = json.loads(value)
    return {t: {int(p): int(o) for p, o in ps.items()} for t, ps in (value or {}).items()}


def bench_spark(spark, timeout: float) -> dict:
    """One AvailableNow run of the Kafka source into `noop`: {"records", "seconds", "end"} (the end
    offsets the run read up to, from its progress)."""
    with tempfile.TemporaryDirectory(prefix="cdc-bench-kafka-source-") as ckpt:
        df = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", bs.SETTINGS.kafka_bootstrap)
              .option("subscribe", ",".join(bs.TOPICS))
              .option("startingOffsets", "earliest")
              .option("failOnDataLoss", "true")
              .load())
        t0 = time.monotonic()
        q = df.writeStream.format("noop").option("checkpointLocation", ckpt).trigger(availableNow=True).start()
        finished = q.awaitTermination(timeout)
        elapsed = time.monotonic() - t0
        if q.exception() is not None:
            raise SystemExit(f"spark query failed: {q.exception()}")
        if not finished:
            q.stop()
            raise SystemExit(f"spark query did not finish within {timeout:.0f}s")
        progress = q.recentProgress
        end: dict[str, dict[int, int]] = {}
        for prog in progress:
            for src in prog.get("sources", []):
                for t, ps in _offsets(src.get("endOffset")).items():
                    for p, o in ps.items():
                        end.setdefault(t, {})[p] = max(o, end.get(t, {}).get(p, 0))
        return {"records": sum(prog["numInputRows"] for prog in progress), "seconds": elapsed, "end": end}


def main() -> int:
    args = parse_args()
    print(bs.machine_line())
    if bs.real_job_running():
        print("NOTE: the streaming job (make submit) is running and competes for the cores; `make stop` for "
              "figures worth quoting")

    if args.generate > 0:
        seed = args.seed if args.seed is not None else int(time.time())
        print(f"generating {args.generate} changes on bankdb (RandomWorkload seed {seed})", flush=True)
        gen = bs.generate_changes(args.generate, seed, args.timeout)
        print(f"  {gen['changes']} changes -> {gen['records']} records on the topics, {gen['total_s']:.1f}s "
              f"from the first statement (MySQL {gen['mysql_s']:.1f}s)", flush=True)

    marks = bs.watermarks()
    start = {t: {p: low for p, (low, _hw) in ps.items()} for t, ps in marks.items()}
    total = sum(hw - low for ps in marks.values() for low, hw in ps.values())
    for t, ps in marks.items():
        print(f"topic {t}: {len(ps)} partitions, {sum(hw - low for low, hw in ps.values())} records")
    if total < MIN_RECORDS:
        print(f"NOTE: the topics hold only {total} records (< {MIN_RECORDS:,}): the figures below are mostly "
              f"start-up cost. Rerun with --generate N (e.g. --generate {-(-(MIN_RECORDS - total) // 10_000) * 10_000}) to first write "
              "N changes to bankdb (they stay in MySQL and on the topics).", flush=True)
    if total == 0:
        return 1

    spark = spark_session()
    try:
        print(f"Spark {spark.version}, {', '.join(Path(j).name for j in kafka_jars())}", flush=True)
        runs = []
        for i in range(max(1, args.spark_runs)):
            runs.append(bench_spark(spark, args.timeout))
            print(f"  Spark run {i + 1}: {runs[-1]['records']} records in {runs[-1]['seconds']:.2f}s", flush=True)
    finally:
        spark.stop()

    best = min(runs, key=lambda r: r["seconds"] / max(1, r["records"]))
    plain = bs.plain_read(start, best["end"], args.timeout)
    print(f"  plain consumer: {plain['records']} records in {plain['seconds']:.2f}s", flush=True)
    disk = log_dir_bytes(bs.TOPICS)
    bytes_per_record = plain["bytes"] / max(1, plain["records"])

    def mb(run) -> str:
        if run["end"] == best["end"]:
            return f"{plain['bytes'] / 1e6:.1f}"
        return f"~{run['records'] * bytes_per_record / 1e6:.1f}"  # another range: at the mean record size

    print("\n" + bs.machine_line().replace("at start", "at the end"))
    rows = []
    for i, r in enumerate(runs):
        label = f'Spark format("kafka") -> noop, local[2], run {i + 1}' + (" (cold)" if i == 0 else "")
        rows.append([label, r["records"], mb(r), f"{r['seconds']:.2f}", f"{r['records'] / r['seconds']:,.0f}"])
    rows.append(["plain confluent-kafka consumer, same offsets as the best run", plain["records"],
                 f"{plain['bytes'] / 1e6:.1f}", f"{plain['seconds']:.2f}",
                 f"{plain['records'] / plain['seconds']:,.0f}"])
    bs.print_table(["reader", "records", "MB", "seconds", "records/s"], rows)
    ratio = (best["records"] / best["seconds"]) / (plain["records"] / plain["seconds"])
    print(f"\nratio Spark / plain (best Spark run): {ratio:.2f}  (goal >= {GOAL_RATIO}: {bs.verdict(ratio >= GOAL_RATIO)})")
    print(f"mean record: {bytes_per_record:,.0f} bytes (key + value, uncompressed)")
    if disk is None:
        print(f"on the wire: n/a (no partition directories of the topics under {bs.SETTINGS.state_dir / 'kafka' / 'data'})")
    else:
        print(f"on the wire: {disk['segments'] / 1e6:.2f} MB of record batches on the broker's disk (.log segments of "
              f"{disk['partitions']} partitions; the directories take {disk['allocated'] / 1e6:.2f} MB with their "
              f"indexes) for {plain['bytes'] / 1e6:.2f} MB read uncompressed: x{plain['bytes'] / max(1, disk['segments']):.1f} "
              "(zstd, Connect's producer; batch headers included; the log may have grown past the range read)")
    if best["records"] != plain["records"]:
        print(f"WARNING: record counts differ on the same offsets: Spark {best['records']}, plain {plain['records']}")
        return 1
    return 0



if __name__ == "__main__":
    sys.exit(main())
