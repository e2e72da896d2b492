"""Shared pieces of the benchmarks (bench/backlog_drain.py, bench/end_to_end_latency.py,
bench/kafka_source_throughput.py).

Everything talks to the stack of the current CDC_* settings (loopback only): Apache Kafka (KRaft, one
node, log under <state dir>/kafka/data), Kafka Connect with Debezium's MariaDB connector writing the
topics in TOPICS, MariaDB, PostgreSQL and the Iceberg warehouse on S3. The pipeline benchmarks run their
own copy of the streaming job, recorded as the Spark app `cdc-bench` (PID and log in the state
directory, next to but apart from `make submit`'s `cdc-stream`), with a config written to bench/out/
whose checkpoint, query name and sink tables are the benchmark's own, so the real ones are untouched.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "bench" / "out"
sys.path.insert(0, str(REPO_ROOT))

from cdc_pipeline.logs import read_events, record_time  # noqa: E402
from stack import job  # noqa: E402
from stack.settings import load_settings  # noqa: E402
from stack.workload import mysql_connect  # noqa: E402,F401  (re-exported for the scripts)

SETTINGS = load_settings()
BASE_CONFIG = REPO_ROOT / "conf" / "pipeline.yaml"
# The benchmark's job: the same script as `make submit`, its own PID and log file.
BENCH_APP = job.SparkApp("cdc-bench", job.STREAM.script, job.STREAM.ready_marker)
TOPICS = ("oltp.bankdb.bank_accounts", "oltp.bankdb.transactions")


# --- machine -------------------------------------------------------------------------------------------

def machine_line() -> str:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    load = os.getloadavg()
    return (f"machine: nproc {os.cpu_count()}, RAM {mem_kb / 1024 / 1024:.1f} GiB, {os_name}, "
            f"{datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")


def load_average() -> float:
    return os.getloadavg()[0]


# --- connections ---------------------------------------------------------------------------------------

def pg_connect(database: str | None = None):
    import psycopg2
    s = SETTINGS
    return psycopg2.connect(host=s.host, port=s.pg_port, user=s.pg_user, password=s.pg_password,
                            dbname=database or s.pg_database, connect_timeout=10)


def kafka_config(**extra) -> dict:
    return {"bootstrap.servers": SETTINGS.kafka_bootstrap, "log_level": 3, **extra}


def partitions_of(topic: str) -> list[int]:
    from confluent_kafka.admin import AdminClient
    md = AdminClient(kafka_config()).list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None or not md.partitions:
        raise SystemExit(f"topic {topic} not found on {SETTINGS.kafka_bootstrap} "
                         f"({md.error if md is not None else 'no metadata'}): is the Debezium connector running "
                         "(make status)?")
    return sorted(md.partitions)


def watermarks(topics=TOPICS) -> dict[str, dict[int, tuple[int, int]]]:
    """{topic: {partition: (log start, high watermark)}}, asked from the broker (not cached)."""
    from stack.topics import watermarks as topic_watermarks
    for topic in topics:
        partitions_of(topic)  # exits with the reason when the topic is missing
    return topic_watermarks(SETTINGS.kafka_bootstrap, topics)


def end_offsets(topics=TOPICS) -> dict[str, dict[int, int]]:
    """{topic: {partition: end}}: each partition's high watermark, the offset the next record gets."""
    return {t: {p: hw for p, (_low, hw) in ps.items()} for t, ps in watermarks(topics).items()}


def subscribed_topics() -> list[str]:
    """The topics on the broker the shipped config's Kafka source reads (its tables', its pattern's, the
    transaction topic): Spark wants a starting offset for every partition it subscribes to."""
    import re

    from confluent_kafka.admin import AdminClient
    options = load_bench_config(BASE_CONFIG).reader_options()
    on_broker = AdminClient(kafka_config()).list_topics(timeout=10).topics
    if "subscribe" in options:
        return [t for t in options["subscribe"].split(",") if t in on_broker]
    return sorted(t for t in on_broker if re.fullmatch(options["subscribePattern"], t))


def start_offsets_json() -> str:
    """startingOffsets for the benchmark's job: the current end of every topic it reads."""
    return offsets_json(end_offsets(subscribed_topics()))


def wait_for_records(start: dict, expected: int, timeout: float, t0: float, stall_s: float = 60) -> tuple[dict, int, float]:
    """Poll the topics' end offsets (about once a second) until they are `expected` records past
    `start`: Debezium's delivery, independent of how fast anyone reads the topics. Returns (end
    offsets, records, t_poll), t_poll being the epoch time the successful poll began (t0 is when
    the writes began, for the progress lines). Goes on with a warning when the count has not moved
    for `stall_s` seconds."""
    deadline = time.monotonic() + timeout
    last_count, last_change, last_print = -1, time.time(), 0.0
    while True:
        t_poll = time.time()
        ends = end_offsets()
        count = offset_span(start, ends)
        if count >= expected:
            return ends, count, t_poll
        if count != last_count:
            last_count, last_change = count, time.time()
        elif time.time() - last_change > stall_s:
            print(f"  WARNING: Kafka stopped at {count} of {expected} expected records; going on with those")
            return ends, count, t_poll
        if time.monotonic() > deadline:
            raise SystemExit(f"Debezium did not deliver {expected} records within {timeout:.0f}s (got {count})")
        if time.monotonic() - last_print > 30:
            print(f"  ... {count}/{expected} records in Kafka after {time.time() - t0:.0f}s", flush=True)
            last_print = time.monotonic()
        time.sleep(max(0.0, 1.0 - (time.time() - t_poll)))


def generate_changes(changes: int, seed: int, timeout: float) -> dict:
    """Write `changes` row changes to bankdb with stack.workload.RandomWorkload (as fast as MySQL takes
    them) and wait until Debezium has put them on the topics. A delete also gives a tombstone, which
    the workload does not count: after the first `changes` records have arrived, wait until the end
    offsets stop moving for 2 s (at most 15 s more: other writers may keep them moving)."""
    from stack.workload import RandomWorkload

    start = end_offsets()
    workload = RandomWorkload(seed)
    t0 = time.time()
    conn = mysql_connect(SETTINGS)
    try:
        last_print = time.monotonic()
        while workload.executed < changes:
            workload.run(conn, changes=min(10_000, changes - workload.executed))
            if time.monotonic() - last_print > 15:
                print(f"  ... {workload.executed}/{changes} changes written", flush=True)
                last_print = time.monotonic()
    finally:
        conn.close()
    t_written = time.time()
    print(f"  MySQL: {workload.executed} changes committed in {t_written - t0:.1f}s; waiting for Debezium", flush=True)
    ends, count, _t = wait_for_records(start, workload.executed, timeout, t0)
    settle_end, stable_since = time.monotonic() + 15, time.monotonic()
    while time.monotonic() < settle_end and time.monotonic() - stable_since < 2:
        time.sleep(0.5)
        now = end_offsets()
        if now != ends:
            ends, stable_since = now, time.monotonic()
    count = offset_span(start, ends)
    return {"changes": workload.executed, "records": count, "mysql_s": t_written - t0, "total_s": time.time() - t0}


def plain_read(start: dict, end: dict, timeout: float) -> dict:
    """A plain confluent-kafka consumer reads exactly [start, end) of every partition (assigned, no
    group): {"records", "bytes" (key + value, as delivered: decompressed), "seconds"}."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    # Fetches of up to 16 MB per partition: with librdkafka's 1 MB default, a fetch holds ~280 of these
    # 3.7 KB events and the read of the Debezium topics ran at 51 000/s instead of 114 000/s (measured
    # 2026-12-02, 360 000 records). Spark's source gained nothing from the same setting (98 000/s).
    c = Consumer(kafka_config(**{"group.id": f"bench-plain-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                                 "auto.offset.reset": "error", "max.partition.fetch.bytes": 16 << 20,
                                 "fetch.max.bytes": 64 << 20, "queued.max.messages.kbytes": 1 << 20}))
    todo = {(t, p): o for t, ps in end.items() for p, o in ps.items() if o > start[t].get(p, 0)}
    n = nbytes = 0
    t0 = time.monotonic()
    try:
        c.assign([TopicPartition(t, p, start[t].get(p, 0)) for (t, p) in todo])
        while todo:
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"plain Kafka read timed out after {timeout:.0f}s and {n} records")
            for m in c.consume(num_messages=10000, timeout=1.0):
                err = m.error()
                if err is not None:
                    if err.code() in (KafkaError._PARTITION_EOF, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN) \
                            or (err.retriable() and not err.fatal()):
                        continue  # librdkafka retries these by itself
                    raise SystemExit(f"plain Kafka read: {err}")
                key = (m.topic(), m.partition())
                stop = todo.get(key)
                if stop is None or m.offset() >= stop:
                    continue
                n += 1
                nbytes += len(m.value() or b"") + len(m.key() or b"")
                if m.offset() + 1 >= stop:
                    del todo[key]
        elapsed = time.monotonic() - t0
    finally:
        c.close()
    return {"records": n, "bytes": nbytes, "seconds": elapsed}


def offsets_json(offsets: dict[str, dict[int, int]]) -> str:
    return json.dumps({t: {str(p): o for p, o in ps.items()} for t, ps in offsets.items()}, separators=(",", ":"))


def offset_span(start: dict, end: dict) -> int:
    return sum(end[t][p] - start[t].get(p, 0) for t in end for p in end[t])


# --- the benchmark's job -------------------------------------------------------------------------------

def write_bench_config(out: Path, prefix: str, starting_offsets: str | None, run_id: str,
                       max_offsets_per_trigger: int | None = None, commit_interval: str | None = None,
                       transactions: dict | None = None) -> Path:
    """conf/pipeline.yaml with the benchmark's own checkpoint, query name, sink tables and status file;
    the source (and its kafka_options) as configured."""
    import yaml
    raw = yaml.safe_load(BASE_CONFIG.read_text())
    cfg = copy.deepcopy(raw)
    if starting_offsets is not None:
        cfg["source"]["starting_offsets"] = starting_offsets
    if max_offsets_per_trigger is not None:
        cfg["source"]["max_offsets_per_trigger"] = max_offsets_per_trigger
    if commit_interval is not None:
        cfg["iceberg"]["commit_interval"] = commit_interval
    if transactions is not None:
        cfg.setdefault("transactions", {}).update(transactions)
    for table in cfg["tables"]:
        base = table.get("name") or table["topic"].rsplit(".", 1)[1]
        table["name"] = f"{prefix}{base}"
        if table.get("stats"):
            table["stats"]["table"] = f"{prefix}{table['stats'].get('table', 'user_account_stats')}"
    job_cfg = cfg.setdefault("job", {})
    job_cfg["query_name"] = f"{prefix}{run_id}"
    job_cfg["checkpoint_location"] = str(out / "checkpoint")
    job_cfg["status_file"] = str(out / "status.json")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pipeline.yaml"
    path.write_text("# written by bench/bench_support.py from conf/pipeline.yaml\n" + yaml.safe_dump(cfg, sort_keys=False))
    return path


def load_bench_config(path: Path):
    from cdc_pipeline.config_loader import load_config
    return load_config(path, {**os.environ, **SETTINGS.env()})


def job_running() -> bool:
    return job.app_process(SETTINGS, BENCH_APP).pid() is not None


def real_job_running() -> bool:
    return job.job_process(SETTINGS).pid() is not None


def submit_job(config_path: Path, master: str = "local[2]") -> int:
    """Start the benchmark's job; returns the byte offset of its log where this run begins."""
    if job_running():
        raise SystemExit("a benchmark job (cdc-bench) is already running; stop it first "
                         "(python -c 'from stack import job; ...' or kill its recorded PID)")
    log_file = job.app_process(SETTINGS, BENCH_APP).log_file
    start = log_file.stat().st_size if log_file.exists() else 0
    print("  job:", job.submit(SETTINGS, master, config_path, BENCH_APP), flush=True)
    return start


def stop_job() -> str:
    return job.stop(SETTINGS, app=BENCH_APP)


def job_pid() -> int | None:
    return job.app_process(SETTINGS, BENCH_APP).pid()


def job_log_file() -> Path:
    return job.app_process(SETTINGS, BENCH_APP).log_file


def read_batches(log_offset: int) -> list[dict]:
    """The job's `cdc_batch` records since `log_offset`, each with `logged_at` (epoch seconds)."""
    out = read_events(job_log_file(), "cdc_batch", log_offset)
    for rec in out:
        rec["logged_at"] = record_time(rec) or time.time()
    return out


def log_errors(log_offset: int) -> list[str]:
    return [json.dumps(rec) for rec in read_events(job_log_file(), offset=log_offset)
            if rec.get("event") == "cdc_query_failed" or "Traceback" in str(rec.get("message"))
            or "Traceback" in str(rec.get("exc_info", ""))]


def batch_end_offsets(batch: dict) -> dict[str, dict[int, int]]:
    raw = batch.get("end_offsets")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {t: {int(p): int(o) for p, o in ps.items()} for t, ps in raw.items() if isinstance(ps, dict)}


def reached(ends: dict, target: dict) -> bool:
    return all(ends.get(t, {}).get(p, -1) >= o for t, ps in target.items() for p, o in ps.items())


def ends_per_query(batches: list[dict]) -> dict[str, dict[str, dict[int, int]]]:
    """Each query's highest batch end per topic partition so far (a batch lists only what it read)."""
    ends: dict[str, dict[str, dict[int, int]]] = {}
    for b in batches:
        mine = ends.setdefault(b.get("query") or "", {})
        for t, ps in batch_end_offsets(b).items():
            for p, o in ps.items():
                mine.setdefault(t, {})[p] = max(o, mine.get(t, {}).get(p, -1))
    return ends


def wait_drained(log_offset: int, target: dict, expected_rows: int, timeout: float, sampler=None,
                 queries: list[str] | None = None) -> list[dict]:
    """Wait until every query in `queries` (default: any one) reached `target` offsets or read
    `expected_rows` records."""
    deadline = time.monotonic() + timeout
    last_print = 0.0
    while time.monotonic() < deadline:
        batches = read_batches(log_offset)
        ends = ends_per_query(batches)
        rows = {q: sum(b.get("rows_in") or 0 for b in batches if (b.get("query") or "") == q) for q in ends}
        wanted = queries or list(ends)[:1]
        if batches and wanted and all(reached(ends.get(q, {}), target) or rows.get(q, 0) >= expected_rows
                                      for q in wanted):
            return batches
        if not job_running():
            raise SystemExit("the benchmark job died:\n" + job.tail(SETTINGS, BENCH_APP))
        errors = log_errors(log_offset)
        if errors:
            raise SystemExit("the benchmark job failed:\n" + "\n".join(errors[:5]))
        if time.monotonic() - last_print > 15:
            extra = f", RSS peak {sampler.peak_driver_mb():.0f} MB" if sampler else ""
            done = ", ".join(f"{q.rsplit('.', 1)[-1]} {n}/{expected_rows}" for q, n in sorted(rows.items()))
            print(f"  ... {len(batches)} batches, records {done or 0}{extra}", flush=True)
            last_print = time.monotonic()
        time.sleep(1)
    raise SystemExit(f"the job did not drain {expected_rows} records within {timeout:.0f}s")


# --- memory --------------------------------------------------------------------------------------------

def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    return kids


class RssSampler(threading.Thread):
    """Samples the RSS of the job's JVM (driver + executors in local mode), its Python driver (the JVM's
    child running cdc_stream.py) and the Python workers (all other descendants), from /proc."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float, float, float]] = []  # (epoch, jvm, driver, workers) MB
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            jvm = job_pid()
            if jvm is not None:
                kids = _children()
                driver, workers = 0.0, 0.0
                todo = list(kids.get(jvm, []))
                while todo:
                    pid = todo.pop()
                    todo.extend(kids.get(pid, []))
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if b"cdc_stream.py" not in cmd:
                        workers += _rss_mb(pid)
                    elif b"python" in Path(cmd.split(b"\0", 1)[0].decode(errors="replace")).name.encode():
                        driver += _rss_mb(pid)
                    # else a child the JVM forks to run a command (Hadoop's local file system does): until
                    # it execs it shows the JVM's command line and RSS, memory counted once, as the JVM's.
                self.samples.append((time.time(), _rss_mb(jvm), driver, workers))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        if self.is_alive():
            self.join(10)

    def peak_driver_mb(self) -> float:
        return max((s[1] + s[2] for s in self.samples), default=0.0)

    def peaks(self) -> dict[str, float]:
        s = self.samples
        return {"jvm": max((x[1] for x in s), default=0.0), "python_driver": max((x[2] for x in s), default=0.0),
                "python_workers": max((x[3] for x in s), default=0.0),
                "jvm_plus_driver": self.peak_driver_mb(),
                "all": max((x[1] + x[2] + x[3] for x in s), default=0.0)}


# --- cleanup -------------------------------------------------------------------------------------------

def drop_postgres(config, query_ids: list[str]) -> None:
    from cdc_pipeline.control import SCHEMA_REGISTRY
    from cdc_pipeline.sinks.postgres_sql import quote_ident as q
    names = [t.name for t in config.tables]
    with pg_connect() as conn, conn.cursor() as cur:
        for t in config.tables:
            cur.execute(f"DROP VIEW IF EXISTS {q(t.name + '_versions')}")  # over the history
            for rel in (f"{t.name}_history", f"{t.name}_current", f"cdc_stage_{t.name}"):
                cur.execute(f"DROP TABLE IF EXISTS {q(rel)}")
            if t.stats is not None:
                cur.execute(f"DROP TABLE IF EXISTS {q(t.stats.table)}")
        cur.execute(f"SELECT to_regclass('{SCHEMA_REGISTRY}') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute(f"DELETE FROM {SCHEMA_REGISTRY} WHERE table_name = ANY(%s)", (names,))
        for qid in query_ids:
            cur.execute(f"DELETE FROM {q(config.postgres.batch_table)} WHERE query_id = %s", (qid,))
            cur.execute(f"DELETE FROM {q(config.postgres.dead_letter_table)} WHERE query_id = %s", (qid,))
    conn.close()


def s3_client():
    import boto3
    from botocore.config import Config
    s = SETTINGS
    return boto3.client("s3", endpoint_url=s.s3_endpoint, aws_access_key_id=s.s3_access_key,
                        aws_secret_access_key=s.s3_secret_key, region_name=s.s3_region,
                        config=Config(s3={"addressing_style": "path"}))


def iceberg_metadata_location(config, table: str) -> str | None:
    """The table's current metadata file, from the JDBC catalog's own table in PostgreSQL."""
    with pg_connect(SETTINGS.pg_catalog_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('iceberg_tables') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = %s AND table_namespace = %s "
                    "AND table_name = %s", (config.iceberg.catalog_name, config.iceberg.namespace, table))
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def iceberg_snapshots(config, table: str) -> list[dict]:
    """The snapshots of an Iceberg table (id, timestamp-ms, summary), read from its metadata JSON on S3."""
    import gzip
    location = iceberg_metadata_location(config, table)
    if location is None:
        return []
    bucket, key = _split_s3(location)
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return json.loads(body).get("snapshots", [])


def drop_iceberg(config, tables: list[str]) -> None:
    """Drop Iceberg tables and purge their files: the catalog row, then every object under the table's
    location (what DROP TABLE ... PURGE does, without starting a Spark session)."""
    s3 = s3_client()
    for table in tables:
        location = iceberg_metadata_location(config, table)
        if location is None:
            continue
        with pg_connect(SETTINGS.pg_catalog_database) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM iceberg_tables WHERE catalog_name = %s AND table_namespace = %s AND table_name = %s",
                        (config.iceberg.catalog_name, config.iceberg.namespace, table))
        conn.close()
        bucket, key = _split_s3(location)
        prefix = key.rsplit("/metadata/", 1)[0] + "/"
        token = None
        while True:
            kw = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = s3.list_objects_v2(**kw)
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(objs), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objs[i:i + 1000], "Quiet": True})
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")


def iceberg_tables_of(config) -> list[str]:
    """The Iceberg tables of the config and their versions views (catalog rows both)."""
    return [f"{t.name}_{kind}" for t in config.tables if "iceberg" in t.sinks
            for kind in ("current", "changes", "versions")]


def query_id_of(config, sink: str) -> str | None:
    """The query id of the job's `sink` path, from its checkpoint."""
    try:
        meta = Path(next(p for p in config.sink_paths if p.sink == sink).checkpoint_location) / "metadata"
        return json.loads(meta.read_text().splitlines()[0])["id"]
    except (OSError, ValueError, KeyError, IndexError, StopIteration):
        return None


def cleanup(config, out: Path, keep: bool) -> None:
    """Stop the job, drop the benchmark's sink tables, delete its checkpoint (unless keep)."""
    if job_running():
        print("  stopping the benchmark job:", stop_job(), flush=True)
    if keep:
        print(f"  --keep: sink tables {[t.name for t in config.tables]} and {out} kept")
        return
    qids = [q for q in (query_id_of(config, p.sink) for p in config.sink_paths) if q]
    for what, fn in (("PostgreSQL", lambda: drop_postgres(config, qids)),
                     ("Iceberg", lambda: drop_iceberg(config, iceberg_tables_of(config)))):
        try:
            fn()
        except Exception as err:  # cleanup must go on
            print(f"  WARNING: dropping the {what} bench tables failed: {err}")
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    print("  cleaned up: bench sink tables, ledger rows and checkpoint", flush=True)


# --- numbers and output --------------------------------------------------------------------------------

def pct(values, q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def print_table(headers: list[str], rows: list[list], aligns: str | None = None) -> None:
    cells = [[str(h) for h in headers]] + [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    aligns = aligns or ("<" + ">" * (len(headers) - 1))
    for n, r in enumerate(cells):
        print("  ".join(f"{v:{a}{w}}" for v, a, w in zip(r, aligns, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(plt, fig, path: Path) -> None:
    """Every plot carries the machine it was measured on."""
    fig.suptitle(machine_line(), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def begin_run(name: str) -> tuple[str, Path]:
    """(run id, output directory) for a benchmark that runs its own job: refuses while the real job
    runs (it would compete for the cores and the backlog) and starts from an empty checkpoint."""
    print(machine_line())
    if real_job_running():
        raise SystemExit("the streaming job (make submit) is running: `make stop` first; a benchmark needs the "
                         "cores to itself")
    out = OUT_DIR / name
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    return uuid.uuid4().hex[:6], out


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        return "?"
