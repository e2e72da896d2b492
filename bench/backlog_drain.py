#!/usr/bin/env python3
"""Backlog drain: how fast the streaming job applies a Kafka backlog to both sinks, against raw limits.

With no job reading, each round writes ~210 000 change events through MySQL (bulk statements on
bankdb, 1 000 rows each: 57 % inserts, 33 % updates of random earlier rows, 5 % inserts into
transactions, 2.5 % deletes, each delete also giving a tombstone), so Debezium's MariaDB connector
(Kafka Connect) turns them into records on the Kafka topics; this process polls the topics' high
watermarks about once a second, which times Debezium (first MySQL statement -> last record readable in
Kafka). Then the job (jobs/cdc_stream.py via stack.job.submit, local[2], Spark's Kafka source,
exactly-once as always) starts from FRESH checkpoints on a copy of conf/pipeline.yaml in
bench/out/drain/ (own query names, checkpoints, `bench_drain_*` sink tables, starting offsets = the
offsets recorded before the load), drains the backlog with both paths (the PostgreSQL query and the
Iceberg query, each reading the whole backlog) and is stopped. Round 2 repeats this on the tables
round 1 filled (same batch size, about twice the table): cost per batch must follow the batch, not the
table. Throughput into both sinks = backlog records / (end of the later path's last batch - start of
the first batch of either, from the `cdc_batch` line times and trigger_ms); each path's own rate is
shown too. "submit -> drained" also counts JVM and session start. Driver RSS: /proc of the job's JVM
and its Python driver, every 0.5 s.

Raw limits, on round 1's data in the same run:
  Kafka read      plain confluent-kafka read of exactly round 1's offset range, right after round 1's
                  drain (msgs/s)
  PG COPY         round 1's rows of bench_drain_*_history (COPY TO memory, untimed) COPY'd into
                  UNLOGGED tables without indexes (rows/s)
  Iceberg append  round 1's rows of lake.cdc.bench_drain_*_changes, cached in a local[2] Spark session,
                  `writeTo(scratch).append()` (write time only; session start and the read excluded)
The seed-000 way, as a baseline: a confluent-kafka consumer applying each record on its own (INSERT
into a history table, upsert or DELETE in a current table, COMMIT per record), on the first
`--baseline-events` records (default 20 000) of round 1's range only, also right after round 1.

Everything is dropped at the end (bench_* tables, ledger rows, Iceberg files, checkpoint) and the job is
stopped even on failure; the rows loaded into MySQL stay (they are ordinary bankdb changes: a running
`make submit` job applies them too). The real job must not run (it would compete for the 2 cores).

    make bench-drain        (or: .venv/bin/python bench/backlog_drain.py --rounds 1 --scale 0.5)
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
import uuid
from decimal import Decimal

import bench_support as bs

GOAL_RSS_MB = 2048


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2, choices=(1, 2, 3), help="backlogs drained one after the other (default 2)")
    p.add_argument("--scale", type=float, default=1.0, help="events per round = 210 000 x scale (default 1)")
    p.add_argument("--baseline-events", type=int, default=20_000, help="records for the seed-000 baseline")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--timeout", type=float, default=900, help="bound on each wait, seconds")
    p.add_argument("--keep", action="store_true", help="keep the bench sink tables and checkpoint")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


# --- loading MySQL ---------------------------------------------------------------------------------------

class BulkLoader:
    """Bulk statements of `chunk` rows on bankdb, each its own transaction (autocommit)."""

    def __init__(self, conn, seed: int, tag: str, chunk: int = 1000):
        self.conn, self.rng, self.tag, self.chunk = conn, random.Random(seed), tag, chunk
        self.live: list[int] = []
        self.user_base = self.rng.randint(10**10, 2 * 10**10)
        self.n = 0

    def _insert_accounts(self, cur) -> int:
        rng, rows = self.rng, []
        for _ in range(self.chunk):
            self.n += 1
            rows.append((self.user_base + rng.randint(0, 999), f"bench-{self.tag}-{self.n}",
                         Decimal(rng.randint(0, 10**8)) / 100))
        sql = "INSERT INTO bank_accounts (user_id, account, balance) VALUES " + ",".join(["(%s,%s,%s)"] * len(rows))
        cur.execute(sql, [v for r in rows for v in r])
        first = cur.lastrowid
        cur.execute("SELECT id FROM bank_accounts WHERE id BETWEEN %s AND %s AND account LIKE %s",
                    (first, first + 10 * self.chunk, f"bench-{self.tag}-%"))
        fresh = [r[0] for r in cur.fetchall()]
        known = set(self.live[-2 * self.chunk:])
        self.live.extend(i for i in fresh if i not in known)
        return len(rows)

    def _update_accounts(self, cur) -> int:
        ids = self.rng.sample(self.live, min(self.chunk, len(self.live)))
        cur.execute("UPDATE bank_accounts SET balance = balance + 1, user_id = %s + (id %% 1000) WHERE id IN ("
                    + ",".join(["%s"] * len(ids)) + ")", [self.user_base, *ids])
        return cur.rowcount

    def _insert_transactions(self, cur) -> int:
        rng = self.rng
        rows = [(rng.choice(self.live), Decimal(rng.randint(1, 10**6)) / 100, rng.random() < 0.1)
                for _ in range(self.chunk)]
        cur.execute("INSERT INTO transactions (account_id, amount, txn_type, booking_date, is_reversal) VALUES "
                    + ",".join(["(%s,%s,'DEPOSIT',CURRENT_DATE,%s)"] * len(rows)), [v for r in rows for v in r])
        return len(rows)

    def _delete_accounts(self, cur) -> int:
        victims = []
        for _ in range(min(self.chunk, len(self.live) - 1)):
            i = self.rng.randrange(len(self.live))
            self.live[i], self.live[-1] = self.live[-1], self.live[i]
            victims.append(self.live.pop())
        cur.execute("DELETE FROM bank_accounts WHERE id IN (" + ",".join(["%s"] * len(victims)) + ")", victims)
        return 2 * cur.rowcount  # the delete event and its tombstone

    def run(self, inserts: int, updates: int, txns: int, deletes: int) -> int:
        """Run the chunks in a shuffled order; returns the Kafka records they will produce."""
        ops = ["I"] * inserts + ["U"] * updates + ["T"] * txns + ["D"] * deletes
        self.rng.shuffle(ops)
        records = 0
        with self.conn.cursor() as cur:
            pending = list(ops)
            while pending:
                op = pending.pop(0)
                if op != "I" and len(self.live) < 2 * self.chunk:
                    pending.append(op)  # updates and deletes need rows first
                    continue
                records += {"I": self._insert_accounts, "U": self._update_accounts,
                            "T": self._insert_transactions, "D": self._delete_accounts}[op](cur)
        return records


def load_round(loader: BulkLoader, start: dict, scale: float, timeout: float) -> dict:
    """Run the statements, then poll the topics' end offsets (high watermarks, about once a second)
    until they grew by the records the statements produce: Debezium's time, independent of how fast
    anyone reads the topics."""
    chunks = dict(inserts=round(120 * scale), updates=round(70 * scale), txns=round(10 * scale),
                  deletes=max(1, round(5 * scale)))
    t0 = time.time()
    expected = loader.run(**chunks)
    t_loaded = time.time()
    print(f"  MySQL: {expected} change records committed in {t_loaded - t0:.1f}s "
          f"({expected / (t_loaded - t0):.0f}/s); waiting for Debezium", flush=True)
    ends, count, t_poll = bs.wait_for_records(start, expected, timeout, t0)
    # the end was reached between the previous poll and this one: count this poll's start
    return {"records": count, "expected": expected, "mysql_s": t_loaded - t0, "debezium_s": t_poll - t0,
            "start": start, "end": ends}


# --- the job --------------------------------------------------------------------------------------------

def drain(config, config_path, target: dict, expected: int, timeout: float, sampler, master: str) -> dict:
    t_submit = time.time()
    offset = bs.submit_job(config_path, master)
    if not sampler.is_alive():
        sampler.start()
    names = {p.query_name: p.sink for p in config.sink_paths}
    batches = bs.wait_drained(offset, target, expected, timeout, sampler, queries=list(names))
    t_done = time.time()
    print("  stopping the job:", bs.stop_job(), flush=True)
    per_path = {}
    for name, sink in names.items():
        mine = [b for b in batches if b.get("query") == name]
        first, last = mine[0], mine[-1]
        started = first["logged_at"] - (first.get("trigger_ms") or 0) / 1000
        per_path[sink] = {"batches": mine, "rows": sum(b.get("rows_in") or 0 for b in mine),
                          "started": started, "ended": last["logged_at"],
                          "seconds": last["logged_at"] - started}
    started = min(p["started"] for p in per_path.values())
    ended = max(p["ended"] for p in per_path.values())
    return {"batches": batches, "paths": per_path, "rows": expected, "seconds": ended - started,
            "wall_s": t_done - t_submit}


# --- raw limits -----------------------------------------------------------------------------------------

def history_columns(cur, table: str) -> list[str]:
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND column_name NOT IN ('_history_id', '_change_type', '_loaded_at') ORDER BY ordinal_position",
                (table,))
    return [r[0] for r in cur.fetchall()]


def raw_pg_copy(config, lo: int, hi: int, run_id: str) -> tuple[int, float]:
    from cdc_pipeline.sinks.postgres_sql import quote_ident as q
    rows, seconds, scratch = 0, 0.0, []
    conn = bs.pg_connect()
    try:
        for t in config.tables:
            history = f"{t.name}_history"
            with conn.cursor() as cur:
                names = history_columns(cur, history)
                if not names:
                    continue  # no change reached this table (tiny --scale)
                cols = ", ".join(q(c) for c in names)
                buf = io.BytesIO()
                cur.copy_expert(f"COPY (SELECT {cols} FROM {q(history)} WHERE _batch_id BETWEEN {lo} AND {hi}) TO STDOUT", buf)
                target = f"bench_copy_{t.name}_{run_id}"[:63]
                scratch.append(target)
                cur.execute(f"CREATE UNLOGGED TABLE {q(target)} AS SELECT {cols} FROM {q(history)} WITH NO DATA")
                conn.commit()
                buf.seek(0)
                t0 = time.monotonic()
                cur.copy_expert(f"COPY {q(target)} ({cols}) FROM STDIN", buf)
                conn.commit()
                seconds += time.monotonic() - t0
                rows += cur.rowcount
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            for target in scratch:
                cur.execute(f"DROP TABLE IF EXISTS {q(target)}")
        conn.commit()
        conn.close()
    return rows, seconds


def raw_iceberg_append(config, lo: int, hi: int, run_id: str, master: str) -> tuple[int, float]:
    from cdc_pipeline.spark_session import build_session
    t0 = time.monotonic()
    spark = build_session(config, app_name="cdc-bench-raw-append", master=master,
                          extra={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("WARN")
    print(f"  Spark session for the Iceberg append: {time.monotonic() - t0:.1f}s (not counted)", flush=True)
    ice = config.iceberg
    rows, seconds, scratch = 0, 0.0, []
    try:
        for t in config.tables:
            src = f"{ice.catalog_name}.{ice.namespace}.{t.name}_changes"
            name = f"bench_scratch_{t.name}_{run_id}"
            dst = f"{ice.catalog_name}.{ice.namespace}.{name}"
            if not spark.catalog.tableExists(src):
                continue  # no change reached this table (tiny --scale)
            df = spark.table(src).where(f"_batch_id BETWEEN {lo} AND {hi}").cache()
            n = df.count()
            writer = df.limit(0).writeTo(dst).using("iceberg")
            for k, v in ice.table_properties().items():
                writer = writer.tableProperty(k, str(v))
            from pyspark.sql import functions as F
            writer.partitionedBy(F.days("_source_ts")).create()
            scratch.append(name)
            t0 = time.monotonic()
            df.writeTo(dst).append()
            seconds += time.monotonic() - t0
            rows += n
            df.unpersist()
    finally:
        for name in scratch:
            try:
                spark.sql(f"DROP TABLE IF EXISTS {ice.catalog_name}.{ice.namespace}.{name} PURGE")
            except Exception as err:
                print(f"  WARNING: dropping {name}: {err}")
        spark.stop()
    return rows, seconds


def seed000_baseline(start: dict, end: dict, limit: int, run_id: str, timeout: float) -> tuple[int, float]:
    """The seed-000 way: one record at a time, history INSERT + current upsert/DELETE, COMMIT each."""
    import json

    from confluent_kafka import Consumer, TopicPartition
    hist, cur_t = f"bench_seed_history_{run_id}", f"bench_seed_current_{run_id}"
    conn = bs.pg_connect()
    with conn.cursor() as cur:
        cur.execute(f"""CREATE TABLE {hist} (id BIGSERIAL PRIMARY KEY, topic TEXT NOT NULL, kafka_partition INT NOT NULL,
                        kafka_offset BIGINT NOT NULL, op CHAR(1) NOT NULL, source_ts TIMESTAMPTZ, key BIGINT NOT NULL,
                        row JSONB, UNIQUE (topic, kafka_partition, kafka_offset))""")
        cur.execute(f"""CREATE TABLE {cur_t} (topic TEXT NOT NULL, key BIGINT NOT NULL, row JSONB NOT NULL,
                        source_ts TIMESTAMPTZ, PRIMARY KEY (topic, key))""")
    conn.commit()
    c = Consumer(bs.kafka_config(**{"group.id": f"bench-seed-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}))
    todo = {(t, p): o for t, ps in end.items() for p, o in ps.items() if o > start[t].get(p, 0)}
    c.assign([TopicPartition(t, p, start[t].get(p, 0)) for (t, p) in todo])
    n = 0
    t0 = time.monotonic()
    try:
        with conn.cursor() as cur:
            while n < limit and todo:
                if time.monotonic() - t0 > timeout:
                    raise SystemExit(f"seed-000 baseline timed out after {n} records")
                for m in c.consume(num_messages=500, timeout=1.0):
                    if n >= limit:
                        break
                    key = (m.topic(), m.partition())
                    if m.error() is not None or key not in todo or m.offset() >= todo[key]:
                        continue
                    n += 1
                    if m.value() is None:
                        continue  # tombstone: nothing to apply
                    payload = json.loads(m.value())["payload"]
                    op, row = payload["op"], payload["after"] or payload["before"]
                    ts = payload["source"]["ts_ms"] / 1000
                    cur.execute(f"INSERT INTO {hist} (topic, kafka_partition, kafka_offset, op, source_ts, key, row) "
                                "VALUES (%s, %s, %s, %s, to_timestamp(%s), %s, %s) ON CONFLICT DO NOTHING",
                                (m.topic(), m.partition(), m.offset(), op, ts, row["id"], json.dumps(row)))
                    if op == "d":
                        cur.execute(f"DELETE FROM {cur_t} WHERE topic = %s AND key = %s", (m.topic(), row["id"]))
                    else:
                        cur.execute(f"INSERT INTO {cur_t} (topic, key, row, source_ts) VALUES (%s, %s, %s, to_timestamp(%s)) "
                                    "ON CONFLICT (topic, key) DO UPDATE SET row = EXCLUDED.row, source_ts = EXCLUDED.source_ts",
                                    (m.topic(), row["id"], json.dumps(row), ts))
                    conn.commit()
        elapsed = time.monotonic() - t0
    finally:
        c.close()
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {hist}")
            cur.execute(f"DROP TABLE IF EXISTS {cur_t}")
        conn.commit()
        conn.close()
    return n, elapsed


# --- table size per batch (for the cost plot) --------------------------------------------------------------

def table_rows_before(config, rounds) -> dict[str, dict[int, int]]:
    """Rows in the first table's current table before each batch, per path: the PostgreSQL path's from
    its history (inserts - deletes per `_batch_id`); the Iceberg path's from the same count at the
    records it had read (its batches read the same offsets in the same order)."""
    from cdc_pipeline.sinks.postgres_sql import quote_ident as q
    t = config.tables[0]
    with bs.pg_connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT _batch_id, count(*) FILTER (WHERE _op IN ('c', 'r')) - count(*) FILTER (WHERE _op = 'd') "
                    f"FROM {q(t.name + '_history')} GROUP BY _batch_id ORDER BY _batch_id")
        rows = cur.fetchall()
    conn.close()
    pg, total = {}, 0
    for batch_id, delta in rows:
        pg[batch_id] = total
        total += delta
    # records read before each batch -> table rows then, by interpolating the PostgreSQL path's curve
    curve = []
    read = 0
    for r in rounds:
        for b in r["drain"]["paths"].get("postgres", {}).get("batches") or []:
            curve.append((read, pg.get(b.get("batch_id"), 0)))
            read += b.get("rows_in") or 0
    ice, read = {}, 0
    for r in rounds:
        for b in r["drain"]["paths"].get("iceberg", {}).get("batches") or []:
            ice[b.get("batch_id")] = max((rows for seen, rows in curve if seen <= read), default=0)
            read += b.get("rows_in") or 0
    return {"postgres": pg, "iceberg": ice}


def plot(path, rounds, sizes, sampler, throughput_rows, goals: dict[str, float]):
    plt = bs.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(21, 5.6), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    ax = axes[0]
    markers = "os^"
    for i, r in enumerate(rounds):
        for sink, edge in (("postgres", "k"), ("iceberg", "tab:red")):
            b = r["drain"]["paths"].get(sink, {}).get("batches") or []
            xs = [x.get("rows_in") or 0 for x in b]
            ys = [(x.get("batch_seconds") or (x.get("trigger_ms") or 0) / 1000) for x in b]
            cs = [sizes.get(sink, {}).get(x.get("batch_id"), 0) / 1000 for x in b]
            vmax = max([v for per in sizes.values() for v in per.values()] or [1]) / 1000
            sc = ax.scatter(xs, ys, c=cs, cmap="viridis", marker=markers[i % 3], s=60, edgecolors=edge,
                            vmin=0, vmax=vmax, label=f"round {i + 1}, {sink} path")
    if rounds:
        fig.colorbar(sc, ax=ax, label="bank_accounts rows in the sink before the batch (thousands)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("records in the batch")
    ax.set_ylabel("batch seconds (foreachBatch)")
    ax.set_title("cost per batch vs batch size")
    ax.legend()
    ax.grid(alpha=0.3)

    ax = axes[1]
    if sampler.samples:
        t0, prev, pts = sampler.samples[0][0], None, []
        nan = float("nan")
        for s in sampler.samples:
            if prev is not None and s[0] - prev > 5:
                pts.append((s[0] - t0 - 1, nan, nan, nan))  # the job was stopped: break the lines
            pts.append((s[0] - t0, s[1], s[2], s[3]))
            prev = s[0]
        ts = [p[0] for p in pts]
        ax.plot(ts, [p[1] for p in pts], label="JVM (driver + executors)")
        ax.plot(ts, [p[2] for p in pts], label="Python driver")
        ax.plot(ts, [p[1] + p[2] for p in pts], label="JVM + Python driver")
        ax.plot(ts, [p[3] for p in pts], label="Python workers", alpha=0.6)
    ax.axhline(GOAL_RSS_MB, color="r", linestyle="--", label="goal 2 GB")
    ax.set_xlabel("seconds (job running; gaps = job stopped between rounds)")
    ax.set_ylabel("RSS MB")
    ax.set_title("driver memory, local[2]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[2]
    labels = [r[0] for r in throughput_rows]
    values = [r[3] for r in throughput_rows]
    ax.barh(labels, values, color=["tab:blue" if lab.lstrip().startswith(("job", "postgres", "iceberg")) else "tab:gray"
                                   for lab in labels])
    for (label, rate), style in zip(goals.items(), ("--", ":")):
        ax.axvline(rate, color="r", linestyle=style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("records (rows) per second, log scale")
    ax.set_title("throughput")
    ax.legend(fontsize=8)
    ax.invert_yaxis()
    bs.save_figure(plt, fig, path)


def main() -> int:
    args = parse_args()
    run_id, out = bs.begin_run("drain")
    start0 = bs.end_offsets()
    config_path = bs.write_bench_config(out, "bench_drain_", bs.start_offsets_json(), run_id)
    config = bs.load_bench_config(config_path)
    print(f"config {config_path}: queries {[p.query_name for p in config.sink_paths]}, tables "
          f"{[t.name for t in config.tables]}, max_offsets_per_trigger {config.source.max_offsets_per_trigger}, "
          f"trigger {config.source.trigger_interval}, Iceberg commit interval {config.iceberg.commit_interval}, "
          f"source kafka options {dict(config.source.kafka_options)}")
    sampler = bs.RssSampler()
    rounds = []
    conn = bs.mysql_connect(bs.SETTINGS)
    loader = BulkLoader(conn, args.seed, run_id)
    try:
        start = start0
        for i in range(args.rounds):
            print(f"\nround {i + 1}: loading MySQL (job stopped)", flush=True)
            load = load_round(loader, start, args.scale, args.timeout)
            print(f"  Debezium: {load['records']} records in Kafka {load['debezium_s']:.1f}s after the first "
                  f"statement: {load['records'] / load['debezium_s']:.0f}/s", flush=True)
            print(f"round {i + 1}: draining with the job", flush=True)
            result = drain(config, config_path, load["end"], load["records"], args.timeout, sampler, args.master)
            print(f"  job: {result['rows']} records into both sinks in {result['seconds']:.1f}s "
                  f"({result['rows'] / result['seconds']:.0f}/s); submit -> drained {result['wall_s']:.1f}s", flush=True)
            for sink, path in result["paths"].items():
                print(f"    {sink} path: {path['rows']} records in {len(path['batches'])} batches, "
                      f"{path['seconds']:.1f}s ({path['rows'] / path['seconds']:.0f}/s)", flush=True)
            rounds.append({"load": load, "drain": result})
            start = load["end"]
            if i == 0:
                # Kafka-side limits right away, on the offsets the job just read (no job running)
                print("raw limits on round 1's data (Kafka side, before any further load)", flush=True)
                kafka = bs.plain_read(load["start"], load["end"], args.timeout)
                k_n, k_s = kafka["records"], kafka["seconds"]
                print(f"  Kafka read: {k_n} in {k_s:.2f}s", flush=True)
                s_n, s_s = seed000_baseline(load["start"], load["end"], args.baseline_events, run_id, args.timeout)
                print(f"  seed-000 per-event: {s_n} in {s_s:.1f}s", flush=True)
        sampler.stop()

        r1 = rounds[0]["drain"]["paths"]

        def batch_range(sink):
            ids = [b["batch_id"] for b in r1[sink]["batches"]]
            return min(ids), max(ids)

        print("\nraw limits on round 1's data (sink side)", flush=True)
        p_n, p_s = raw_pg_copy(config, *batch_range("postgres"), run_id)
        print(f"  PostgreSQL COPY: {p_n} rows in {p_s:.2f}s", flush=True)
        i_n, i_s = raw_iceberg_append(config, *batch_range("iceberg"), run_id, args.master)
        print(f"  Iceberg append: {i_n} rows in {i_s:.2f}s", flush=True)
        sizes = table_rows_before(config, rounds)
    finally:
        sampler.stop()
        conn.close()
        bs.cleanup(config, out, args.keep)

    # --- report ---
    print("\n" + bs.machine_line().replace("at start", "at the end"))
    print("NOTE: measured while other jobs (Spark test suites) ran on the same 2 cores unless the load average is < 1.\n")
    print("per batch (rows_in counts Kafka records, tombstones included):")
    rows = []
    for i, r in enumerate(rounds):
        for sink, path in r["drain"]["paths"].items():
            for b in path["batches"]:
                bsec = b.get("batch_seconds") or 0
                rows.append([i + 1, sink, b.get("batch_id"), sizes.get(sink, {}).get(b.get("batch_id"), ""),
                             b.get("rows_in"), b.get("trigger_ms"), bsec, b.get("plan_s"), b.get(f"{sink}_s"),
                             f"{(b.get('rows_in') or 0) / bsec:.0f}" if bsec else ""])
    bs.print_table(["round", "path", "batch", "table rows before", "records", "trigger ms", "batch s", "plan s",
                    "sink s", "records/s"], rows, "<<" + ">" * 8)

    job_rate = [r["drain"]["rows"] / r["drain"]["seconds"] for r in rounds]
    deb_rate = [r["load"]["records"] / r["load"]["debezium_s"] for r in rounds]
    raw = [("raw: Kafka read (plain confluent-kafka)", k_n, k_s), ("raw: PostgreSQL COPY (unlogged, no index)", p_n, p_s),
           ("raw: Iceberg append (Spark local[2])", i_n, i_s)]
    kafka_rate = k_n / k_s
    table = []
    for i, r in enumerate(rounds):
        table.append((f"Debezium, round {i + 1} (MySQL commit -> Kafka)", r["load"]["records"], r["load"]["debezium_s"],
                      deb_rate[i]))
    for i, r in enumerate(rounds):
        what = "empty tables" if i == 0 else "tables of round %s" % " + ".join(str(j + 1) for j in range(i))
        table.append((f"job drain into both sinks, round {i + 1} ({what})", r["drain"]["rows"], r["drain"]["seconds"],
                      job_rate[i]))
        for sink, path in r["drain"]["paths"].items():
            table.append((f"  {sink} path alone, round {i + 1}", path["rows"], path["seconds"],
                          path["rows"] / path["seconds"]))
    table += [(label, n, s, n / s) for label, n, s in raw]
    table.append((f"seed-000 per-event commit ({s_n} records only)", s_n, s_s, s_n / s_s))
    print("\nthroughput:")
    bs.print_table(["measurement", "records", "seconds", "per s", "job round 1 / this"],
                   [[lab, n, f"{s:.2f}", f"{v:,.0f}", f"{job_rate[0] / v:.2f}"] for lab, n, s, v in table])

    peaks = sampler.peaks()
    print(f"\ndriver RSS peaks (MB): JVM {peaks['jvm']:.0f}, Python driver {peaks['python_driver']:.0f}, "
          f"JVM + Python driver {peaks['jvm_plus_driver']:.0f}, Python workers {peaks['python_workers']:.0f}, "
          f"all {peaks['all']:.0f}")

    print("\ngoals:")
    goal_rows = [
        ["drain into both sinks >= 2 x Debezium's rate",
         f"{job_rate[0]:,.0f}/s vs 2 x {deb_rate[0]:,.0f}/s (ratio {job_rate[0] / deb_rate[0]:.2f})",
         bs.verdict(job_rate[0] >= 2 * deb_rate[0])],
        ["drain into both sinks >= 0.4 x raw Kafka read of the same offsets",
         f"{job_rate[0]:,.0f}/s vs 0.4 x {kafka_rate:,.0f}/s (ratio {job_rate[0] / kafka_rate:.2f})",
         bs.verdict(job_rate[0] >= 0.4 * kafka_rate)],
        ["driver RSS (JVM + Python driver) <= 2 GB", f"peak {peaks['jvm_plus_driver']:.0f} MB",
         bs.verdict(peaks["jvm_plus_driver"] <= GOAL_RSS_MB)],
    ]
    if len(rounds) > 1:
        for sink in ("postgres", "iceberg"):
            full = [[b for b in r["drain"]["paths"].get(sink, {}).get("batches") or []
                     if (b.get("rows_in") or 0) >= 0.9 * config.source.max_offsets_per_trigger] for r in rounds]
            if not all(full):
                continue
            per_k = [bs.mean(1000 * (b.get("batch_seconds") or 0) / b["rows_in"] for b in f) for f in full]
            growth = per_k[-1] / per_k[0]
            size_1 = bs.mean(sizes.get(sink, {}).get(b["batch_id"], 0) for b in full[0])
            size_n = bs.mean(sizes.get(sink, {}).get(b["batch_id"], 0) for b in full[-1])
            goal_rows.append([f"{sink} path: round {len(rounds)} costs <= 1.3 x round 1 per record",
                              f"full batches: {per_k[0]:.3f} s/1k records (round 1, table ~{size_1:,.0f} rows) vs "
                              f"{per_k[-1]:.3f} (round {len(rounds)}, ~{size_n:,.0f} rows): x{growth:.2f}",
                              bs.verdict(growth <= 1.3)])
    bs.print_table(["goal", "measured", "status"], goal_rows, "<<<")
    for sink in ("postgres", "iceberg"):
        batches = [b for r in rounds for b in r["drain"]["paths"].get(sink, {}).get("batches") or []]
        total = sum((b.get("batch_seconds") or 0) for b in batches)
        if total:
            plan = sum((b.get("plan_s") or 0) for b in batches)
            write = sum((b.get(f"{sink}_s") or 0) for b in batches)
            print(f"where the {sink} path's batch time goes: {sink} {write / total:.0%}, plan (decode, summary, "
                  f"dead letters) {plan / total:.0%}, rest {1 - (plan + write) / total:.0%} of {total:.1f}s")

    bs.OUT_DIR.mkdir(parents=True, exist_ok=True)
    png = bs.OUT_DIR / "backlog_drain.png"
    plot(png, rounds, sizes, sampler, [(lab, n, s, v) for lab, n, s, v in table],
         {"goal: 2 x Debezium (round 1)": 2 * deb_rate[0], "goal: 0.4 x raw Kafka read": 0.4 * kafka_rate})
    print(f"\nplot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
