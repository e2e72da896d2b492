#!/usr/bin/env python3
"""End-to-end latency: MySQL commit -> row visible in PostgreSQL current and in Iceberg current.

The path measured is the whole stack's: MariaDB's binlog -> Debezium's MariaDB connector in Kafka
Connect (its producer lingers up to 20 ms per batch) -> Kafka (one KRaft node) -> the job's Spark
Kafka source -> the job's two paths: PostgreSQL every trigger, Iceberg every commit interval.

Starts the streaming job (jobs/cdc_stream.py via stack.job.submit, local[2], the default triggers of
conf/pipeline.yaml: PostgreSQL every second, Iceberg every 30 s; --commit-interval overrides the
latter) from fresh checkpoints on a copy of the config in bench/out/latency/
(own query name, checkpoint, `bench_lat_*` sink tables, starting at the topics' current end offsets,
their high watermarks). For each
rate in --rates (default 50, 250, 1000 and 5000 changes/s), stack.workload.RandomWorkload drives MySQL at that
rate for --warmup + --seconds (inserts, updates and deletes on both tables, 1-8 statements per
transaction); during the --seconds window this process also commits markers, --marker-rate per second:
`UPDATE bank_accounts SET account = '<unique marker>' WHERE id = <a row of a pre-inserted pool>` (one
row per marker, never touched by the workload), noting the time right after the commit returned.

How visibility is measured (one machine, one wall clock for MySQL, Python and the JVM):
  PostgreSQL  this process polls bank_accounts_current for the pending markers every --poll seconds
              (100 ms); a marker counts as visible at the START of the first poll that sees it, so the
              figure is late by at most one poll interval plus the query time (a few ms).
  Iceberg     the marker's Kafka partition and offset come from its PostgreSQL history row; the Iceberg
              path's first batch whose end offset (its `cdc_batch` log line) passes it holds it, and
              the snapshot of bank_accounts_current whose summary has that `cdc.batch-id` (and the
              Iceberg path's `cdc.query-id`) made it readable: we take the snapshot's `timestamp-ms`
              from the table metadata on S3 (set when the snapshot is written, just before the
              catalog's pointer swap, i.e. earlier by the swap's few ms). No reader polls Iceberg,
              so the figure has no polling error and costs the job nothing.
After the window the script waits until every marker is visible (bounded by --catchup-timeout) before
the next rate, so one rate's backlog does not leak into the next. Whether the pipeline kept up: see
"MySQL held" (the workload's own rate), the PostgreSQL median latency of the window's first vs last
third (rising = a growing backlog; batches make latency a sawtooth with the batch duration as period,
so compare it with the batches' seconds) and "caught up s" (window end -> last marker visible; about
one or two batch durations when the pipeline keeps up). When it falls behind, the p95 is queueing and
grows with the window's length.

With --transactions on,off (the default) the whole run is done twice, with transaction-consistent
apply on (the shipped default) and off, and a last table shows the p95 cost of the guarantee.

Prints per rate: MySQL's achieved rate, p50/p95/max of both latencies, the trend, the job's batches in
the window (records, seconds, Iceberg/PostgreSQL split) and the driver RSS; writes
bench/out/end_to_end_latency.png. The job is stopped and the bench tables, ledger rows and checkpoint
are dropped at the end, even on failure; the rows written to MySQL stay (ordinary bankdb changes).

    make bench-latency      (or: .venv/bin/python bench/end_to_end_latency.py --rates 500 --seconds 30)
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import bench_support as bs
from stack.workload import RandomWorkload

GOAL_PG_P95_S = 3.0  # at 50-1 000 changes/s
GOAL_PG_P95_HIGH_S = 5.0  # at 5 000 changes/s
GOAL_ICEBERG_MARGIN_S = 15.0  # p95 -> Iceberg current <= commit interval + this


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="50,250,1000,5000",
                   help="changes per second to drive, comma-separated (default 50,250,1000,5000)")
    p.add_argument("--commit-interval", default=None, help="iceberg.commit_interval for the run (default: the config's)")
    p.add_argument("--seconds", type=float, default=60, help="measured window per rate (default 60)")
    p.add_argument("--warmup", type=float, default=10, help="workload before the window, not measured (default 10)")
    p.add_argument("--marker-rate", type=float, default=5, help="markers per second (default 5)")
    p.add_argument("--poll", type=float, default=0.1, help="PostgreSQL poll interval, seconds (default 0.1)")
    p.add_argument("--catchup-timeout", type=float, default=600, help="bound on waiting for the last markers")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--keep", action="store_true", help="keep the bench sink tables and checkpoint")
    p.add_argument("--transactions", default="on,off",
                   help="transactions.consistent settings to measure, each in its own job run over the same rates "
                        "(default on,off: the cost of whole-transaction apply; 'on' alone: the shipped default)")
    return p.parse_args()


class Visibility:
    """Polls PostgreSQL current for markers: {id: (marker, t_commit)} -> {id: (t_visible, _seq)}."""

    def __init__(self, config):
        from cdc_pipeline.sinks.postgres_sql import quote_ident
        self.table = quote_ident(config.tables[0].name + "_current")
        self.conn = bs.pg_connect()
        self.conn.autocommit = True
        self.pending: dict[int, tuple[str, float]] = {}
        self.seen: dict[int, tuple[float, int]] = {}

    def poll(self) -> None:
        if not self.pending:
            return
        t = time.time()
        import psycopg2
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT id, account, _seq FROM {self.table} WHERE id = ANY(%s)", (list(self.pending),))
                rows = cur.fetchall()
        except psycopg2.errors.UndefinedTable:
            return
        for id_, account, seq in rows:
            want = self.pending.get(id_)
            if want is not None and account == want[0]:
                self.seen[id_] = (t, seq)
                del self.pending[id_]

    def close(self):
        self.conn.close()


def insert_pool(conn, n: int, tag: str) -> list[tuple[int, str]]:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES "
                    + ",".join(["(%s, %s, 0)"] * n), [v for i in range(n) for v in (424242, f"{tag}-{i}")])
        cur.execute("SELECT id, account FROM bank_accounts WHERE account LIKE %s ORDER BY id", (f"{tag}-%",))
        return list(cur.fetchall())


def wait_visible(vis: Visibility, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last = 0.0
    while vis.pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: {len(vis.pending)} rows still not in PostgreSQL after {timeout:.0f}s")
        if not bs.job_running():
            raise SystemExit("the benchmark job died:\n" + bs.job.tail(bs.SETTINGS, bs.BENCH_APP))
        if time.monotonic() - last > 15:
            print(f"  ... waiting for {len(vis.pending)} rows ({what})", flush=True)
            last = time.monotonic()
        vis.poll()
        time.sleep(0.2)


def run_rate(rate: float, args, config, run_id: str, seed: int) -> dict:
    markers_n = int(args.seconds * args.marker_rate)
    tag = f"latpool-{run_id}-{int(rate)}"
    mconn = bs.mysql_connect(bs.SETTINGS)
    vis = Visibility(config)
    try:
        pool_rows = insert_pool(mconn, markers_n + 10, tag)
        for id_, account in pool_rows:
            vis.pending[id_] = (account, time.time())
        pool = [id_ for id_, _account in pool_rows]
        wait_visible(vis, args.catchup_timeout, f"marker pool for {rate:g}/s (pipeline catching up)")
        vis.seen.clear()

        result: dict = {}
        wl = RandomWorkload(seed)
        wconn = bs.mysql_connect(bs.SETTINGS)

        def drive():
            try:
                wl.run(wconn, seconds=args.warmup, rate=rate)
                t0, e0 = time.monotonic(), wl.executed
                wl.run(wconn, seconds=args.seconds, rate=rate)
                result["changes"] = wl.executed - e0
                result["achieved"] = (wl.executed - e0) / (time.monotonic() - t0)
            except Exception as err:  # reported by the main thread
                result["error"] = err

        worker = threading.Thread(target=drive, daemon=True)
        worker.start()
        time.sleep(args.warmup)
        print(f"  rate {rate:g}/s: measuring for {args.seconds:g}s, {markers_n} markers", flush=True)
        commits: dict[int, tuple[str, float]] = {}
        window_start = time.time()
        next_marker = time.monotonic()
        next_poll = time.monotonic()
        end = time.monotonic() + args.seconds
        n = 0
        with mconn.cursor() as cur:
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_marker and n < markers_n:
                    marker = f"lat-{run_id}-{int(rate)}-{n}"
                    cur.execute("UPDATE bank_accounts SET account = %s WHERE id = %s", (marker, pool[n]))
                    t_commit = time.time()  # autocommit: the statement's commit has returned
                    commits[pool[n]] = (marker, t_commit)
                    vis.pending[pool[n]] = (marker, t_commit)
                    n += 1
                    next_marker += 1 / args.marker_rate
                if now >= next_poll:
                    vis.poll()
                    next_poll += args.poll
                wake = min(next_marker, next_poll) if n < markers_n else next_poll
                time.sleep(max(0.0, min(wake, end) - time.monotonic()))
        window_end = time.time()
        worker.join(args.warmup + args.seconds + 60)
        wconn.close()
        if "error" in result:
            raise SystemExit(f"workload failed: {result['error']}")
        deadline = time.monotonic() + args.catchup_timeout
        while vis.pending and time.monotonic() < deadline:
            vis.poll()
            time.sleep(args.poll)
        missing = len(vis.pending)
        caught_up = time.time()
        return {"rate": rate, "commits": commits, "seen": dict(vis.seen), "missing": missing,
                "window": (window_start, window_end), "caught_up": caught_up, **result}
    finally:
        vis.close()
        mconn.close()


def marker_offsets(config, seen: dict[int, tuple[float, int]]) -> dict[int, tuple[int, int]]:
    """{marker row id: (Kafka partition, offset)} of each seen marker's change, from PostgreSQL history."""
    from cdc_pipeline.sinks.postgres_sql import quote_ident
    history = quote_ident(config.tables[0].name + "_history")
    pairs = [(id_, seq) for id_, (_t, seq) in seen.items()]
    out = {}
    with bs.pg_connect() as conn, conn.cursor() as cur:
        for i in range(0, len(pairs), 500):
            chunk = pairs[i:i + 500]
            cur.execute(f"SELECT id, _kafka_partition, _kafka_offset FROM {history} WHERE (id, _seq) IN ("
                        + ",".join(["(%s, %s)"] * len(chunk)) + ")", [v for pair in chunk for v in pair])
            out.update({id_: (p, o) for id_, p, o in cur.fetchall()})
    conn.close()
    return out


def iceberg_visible_at(config, batches: list[dict], offsets: dict[int, tuple[int, int]]) -> dict[int, float]:
    """{marker row id: time its Iceberg snapshot was committed}: the Iceberg path's first batch whose
    end offset passes the marker's offset, and that batch's snapshot of <table>_current."""
    ice_path = next(p for p in config.sink_paths if p.sink == "iceberg")
    qid = bs.query_id_of(config, "iceberg")
    snaps = bs.iceberg_snapshots(config, f"{config.tables[0].name}_current")
    snap_ts = {int(s["summary"]["cdc.batch-id"]): s["timestamp-ms"] / 1000 for s in snaps
               if s.get("summary", {}).get("cdc.batch-id") is not None and s["summary"].get("cdc.query-id") == qid}
    topic = config.tables[0].topic
    ends = sorted((b["batch_id"], bs.batch_end_offsets(b).get(topic, {}))
                  for b in batches if b.get("query") == ice_path.query_name and b.get("batch_id") is not None)
    out = {}
    for id_, (partition, offset) in offsets.items():
        batch = next((bid for bid, end in ends if end.get(partition, -1) > offset), None)
        if batch is not None and batch in snap_ts:
            out[id_] = snap_ts[batch]
    return out


def summarize(res: dict, ice_ts: dict[int, float]) -> dict:
    pg, ice, rows = [], [], []
    for id_, (_marker, t_commit) in res["commits"].items():
        seen = res["seen"].get(id_)
        if seen is None:
            continue
        t_pg = seen[0]
        t_ice = ice_ts.get(id_)
        pg.append(t_pg - t_commit)
        if t_ice is not None:
            ice.append(t_ice - t_commit)
        rows.append((t_commit - res["window"][0], t_pg - t_commit, None if t_ice is None else t_ice - t_commit))
    rows.sort()
    third = max(1, len(rows) // 3)
    first = bs.pct([r[1] for r in rows[:third]], 0.5)
    last = bs.pct([r[1] for r in rows[-third:]], 0.5)
    return {"pg": pg, "ice": ice, "rows": rows, "first": first, "last": last,
            "catch_up": res["caught_up"] - res["window"][1]}


def plot(path, results, summaries, trigger, commit_interval_s):
    plt = bs.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.4))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, (res, s) in enumerate(zip(results, summaries)):
        c = colors[i % len(colors)]
        xs = [r[0] for r in s["rows"]]
        axes[0].scatter(xs, [r[1] for r in s["rows"]], s=8, color=c, label=f"{res['rate']:g}/s -> PostgreSQL")
        axes[0].scatter(xs, [float("nan") if r[2] is None else r[2] for r in s["rows"]], s=8, color=c, marker="x", alpha=0.5,
                        label=f"{res['rate']:g}/s -> Iceberg")
        for values, style, sink in ((s["pg"], "-", "PostgreSQL"), (s["ice"], "--", "Iceberg")):
            v = sorted(values)
            if v:
                axes[1].plot(v, [(k + 1) / len(v) for k in range(len(v))], style, color=c,
                             label=f"{res['rate']:g}/s -> {sink}")
    axes[0].axhline(GOAL_PG_P95_S, color="r", linestyle=":", label=f"goal p95 PostgreSQL {GOAL_PG_P95_S:g} s")
    axes[0].axhline(commit_interval_s + GOAL_ICEBERG_MARGIN_S, color="purple", linestyle=":",
                    label=f"goal p95 Iceberg {commit_interval_s + GOAL_ICEBERG_MARGIN_S:g} s")
    axes[0].set_xlabel("marker commit, seconds into the window")
    axes[0].set_ylabel("latency from MySQL commit, s")
    axes[0].set_yscale("log")
    axes[0].set_title(f"latency over the window (PostgreSQL trigger {trigger}, Iceberg every {commit_interval_s:g} s)")
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    axes[1].axvline(GOAL_PG_P95_S, color="r", linestyle=":")
    axes[1].axhline(0.95, color="gray", linestyle=":")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("latency from MySQL commit, s (log)")
    axes[1].set_ylabel("fraction of markers visible")
    axes[1].set_title("CDF")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    bs.save_figure(plt, fig, path)


def measure(args, rates: list[float], mode: str) -> dict:
    """One job run over every rate with transactions.consistent = (mode == "on"); its figures."""
    run_id, out = bs.begin_run(f"latency-{mode}")
    config_path = bs.write_bench_config(out, "bench_lat_", bs.start_offsets_json(), run_id,
                                        commit_interval=args.commit_interval,
                                        transactions={"consistent": mode == "on"})
    config = bs.load_bench_config(config_path)
    from cdc_pipeline.config import interval_ms
    trigger, commit_interval = config.source.trigger_interval, config.iceberg.commit_interval
    commit_s = interval_ms(commit_interval) / 1000
    print(f"\n=== transactions.consistent: {mode}\nconfig {config_path}: queries "
          f"{', '.join(p.query_name for p in config.sink_paths)}; PostgreSQL trigger "
          f"{trigger}, Iceberg commit interval {commit_interval}, max_offsets_per_trigger "
          f"{config.source.max_offsets_per_trigger}, source kafka options {dict(config.source.kafka_options)}")
    sampler = bs.RssSampler()
    results = []
    try:
        log_offset = bs.submit_job(config_path, args.master)
        sampler.start()
        for i, rate in enumerate(rates):
            results.append(run_rate(rate, args, config, run_id, seed=1000 + i))
            r = results[-1]
            print(f"  rate {rate:g}/s: MySQL held {r.get('achieved', 0):.0f}/s; {len(r['seen'])} of {len(r['commits'])} "
                  f"markers visible, caught up {r['caught_up'] - r['window'][1]:.0f}s after the window", flush=True)
        # The last markers reach Iceberg at the next commit: wait for one more Iceberg batch.
        time.sleep(commit_s + 10)
        sampler.stop()
        batches = bs.read_batches(log_offset)
        offsets = marker_offsets(config, {k: v for r in results for k, v in r["seen"].items()})
        ice_ts = iceberg_visible_at(config, batches, offsets)
    finally:
        sampler.stop()
        bs.cleanup(config, out, args.keep)
    return {"mode": mode, "config": config, "trigger": trigger, "commit_interval": commit_interval,
            "commit_s": commit_s, "results": results, "summaries": [summarize(r, ice_ts) for r in results],
            "batches": batches, "peaks": sampler.peaks()}


def report(args, run: dict) -> None:
    config, results, summaries, batches = run["config"], run["results"], run["summaries"], run["batches"]
    trigger, commit_interval, commit_s = run["trigger"], run["commit_interval"], run["commit_s"]
    print(f"\n=== transactions.consistent: {run['mode']}")
    print(f"PostgreSQL path trigger {trigger}, Iceberg path every {commit_interval}; markers: {args.marker_rate:g}/s "
          f"over {args.seconds:g}s per rate; PostgreSQL polled every {args.poll * 1000:.0f} ms; Iceberg = snapshot "
          "commit time of the Iceberg batch that holds the marker\n")
    rows = []
    for r, s in zip(results, summaries):
        rows.append([f"{r['rate']:g}", f"{r.get('achieved', 0):.0f}",
                     f"{len(s['pg'])}/{len(r['commits'])}",
                     f"{bs.pct(s['pg'], 0.5):.2f}", f"{bs.pct(s['pg'], 0.95):.2f}", f"{max(s['pg'], default=float('nan')):.2f}",
                     f"{bs.pct(s['ice'], 0.5):.2f}", f"{bs.pct(s['ice'], 0.95):.2f}", f"{max(s['ice'], default=float('nan')):.2f}",
                     f"{s['first']:.1f} -> {s['last']:.1f}", f"{s['catch_up']:.0f}"])
    bs.print_table(["target/s", "MySQL held/s", "markers seen", "PG p50 s", "PG p95 s", "PG max s", "Iceberg p50 s",
                    "Iceberg p95 s", "Iceberg max s", "PG median first->last third", "caught up s"], rows, "<" + ">" * 11)

    print("\neach path's batches during each window (+ catch-up):")
    brows = []
    for r in results:
        for path in config.sink_paths:
            inside = [b for b in batches if b.get("query") == path.query_name
                      and r["window"][0] <= b["logged_at"] <= r["caught_up"] + 1]
            if not inside:
                continue
            secs = [b.get("batch_seconds") or 0 for b in inside]
            held = [(b.get("transactions") or {}).get("held_records") or 0 for b in inside]
            brows.append([f"{r['rate']:g}", path.sink, len(inside), f"{bs.mean(b.get('rows_in') or 0 for b in inside):.0f}",
                          f"{bs.pct(secs, 0.5):.2f}", f"{bs.pct(secs, 0.95):.2f}",
                          f"{bs.mean(b.get('gate_s') or 0 for b in inside):.2f}",
                          f"{bs.mean(b.get('plan_s') or 0 for b in inside):.2f}",
                          f"{bs.mean(b.get(path.sink + '_s') or 0 for b in inside):.2f}",
                          f"{bs.mean((b.get('trigger_ms') or 0) / 1000 for b in inside):.2f}",
                          f"{bs.mean(held):.0f}"])
    bs.print_table(["rate/s", "path", "batches", "mean records", "batch s p50", "batch s p95", "mean gate s",
                    "mean plan s", "mean sink s", "mean trigger s", "mean held records"], brows, "<<" + ">" * 9)
    peaks = run["peaks"]
    print(f"\ndriver RSS peaks (MB): JVM {peaks['jvm']:.0f}, Python driver {peaks['python_driver']:.0f}, "
          f"JVM + Python driver {peaks['jvm_plus_driver']:.0f}, Python workers {peaks['python_workers']:.0f}")
    print("\ngoals:")
    goal_rows = []
    for r, s in zip(results, summaries):
        p95 = bs.pct(s["pg"], 0.95)
        goal = GOAL_PG_P95_S if r["rate"] <= 1000 else GOAL_PG_P95_HIGH_S
        ok = p95 <= goal and len(s["pg"]) == len(r["commits"])
        goal_rows.append([f"p95 MySQL commit -> PostgreSQL current <= {goal:g} s at {r['rate']:g}/s",
                          f"{p95:.2f} s", bs.verdict(ok)])
    for r, s in zip(results, summaries):
        p95 = bs.pct(s["ice"], 0.95)
        ok = p95 <= commit_s + GOAL_ICEBERG_MARGIN_S and len(s["ice"]) == len(r["commits"])
        goal_rows.append([f"p95 MySQL commit -> Iceberg current <= {commit_s + GOAL_ICEBERG_MARGIN_S:g} s "
                          f"at {r['rate']:g}/s", f"{p95:.2f} s ({len(s['ice'])}/{len(r['commits'])} markers)",
                          bs.verdict(ok)])
    goal_rows.append(["driver RSS (JVM + Python driver) <= 2 GB", f"peak {peaks['jvm_plus_driver']:.0f} MB",
                      bs.verdict(peaks["jvm_plus_driver"] <= 2048)])
    bs.print_table(["goal", "measured", "status"], goal_rows, "<<<")
    bs.OUT_DIR.mkdir(parents=True, exist_ok=True)
    png = bs.OUT_DIR / ("end_to_end_latency.png" if run["mode"] == "on" else f"end_to_end_latency_{run['mode']}.png")
    plot(png, results, summaries, trigger, commit_s)
    print(f"\nplot: {png}")


def main() -> int:
    args = parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    modes = [m.strip() for m in args.transactions.split(",") if m.strip()]
    if not modes or set(modes) - {"on", "off"}:
        raise SystemExit(f"--transactions: expected on, off or on,off; got {args.transactions!r}")
    runs = [measure(args, rates, mode) for mode in modes]
    print("\n" + bs.machine_line().replace("at start", "at the end"))
    print("NOTE: measured while other jobs (Spark test suites) ran on the same 2 cores unless the load average is < 1.")
    for run in runs:
        report(args, run)
    if len(runs) == 2:
        print("\nthe cost of whole-transaction apply (transactions.consistent on vs off, same rates and workload):")
        on, off = runs
        rows = []
        for r_on, s_on, s_off in zip(on["results"], on["summaries"], off["summaries"]):
            p_on, p_off = bs.pct(s_on["pg"], 0.95), bs.pct(s_off["pg"], 0.95)
            i_on, i_off = bs.pct(s_on["ice"], 0.95), bs.pct(s_off["ice"], 0.95)
            rows.append([f"{r_on['rate']:g}", f"{p_off:.2f}", f"{p_on:.2f}", f"{p_on - p_off:+.2f}",
                         f"{i_off:.2f}", f"{i_on:.2f}", f"{i_on - i_off:+.2f}"])
        bs.print_table(["rate/s", "PG p95 off s", "PG p95 on s", "cost s", "Iceberg p95 off s", "Iceberg p95 on s",
                        "cost s"], rows, "<" + ">" * 6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
