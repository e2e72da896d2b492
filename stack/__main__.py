"""python -m stack <command> — what the Makefile targets run. `stop` stops services (the stack's
servers); `stop-job` (`make stop`) stops the streaming job."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from cdc_pipeline.logs import log_event

from . import jars, job, spark_cluster
from .errors import StackError
from .logpipe import launcher_log
from .services import all_services, service
from .settings import load_settings

log = logging.getLogger("stack")  # JSON lines in <state dir>/logs/stack.log once launcher_log() set it up


def cmd_up(settings, names):
    services = all_services(settings)
    wanted = [svc for svc in services if not names or svc.name in names]
    for svc in wanted:
        print(f"{svc.name:<11} ...", end=" ", flush=True)
        outcome = svc.start()
        print(outcome, flush=True)
        log_event(log, "service_start", service=svc.name, outcome=outcome)
    print("stack is up; `make status` shows it, logs are in", settings.state_dir / "logs")


def cmd_down(settings, names):
    if not names:
        print(f"{'cdc-stream':<11} {job.stop(settings)}", flush=True)  # the jobs before what they read
        print(f"{'cdc-compact':<11} {job.stop(settings, app=job.COMPACTION)}", flush=True)
        if spark_cluster.is_running(settings):
            spark_cluster.down(settings)
    for svc in reversed(all_services(settings)):
        if names and svc.name not in names:
            continue
        outcome = svc.stop()
        print(f"{svc.name:<11} {outcome}", flush=True)
        log_event(log, "service_stop", service=svc.name, outcome=outcome)


def status_rows(settings, services=None):
    rows = []
    for svc in services if services is not None else all_services(settings):
        pid = svc.proc.pid()
        rows.append({"service": svc.name, "port": svc.port, "pid": pid,
                     "healthy": pid is not None and svc.is_healthy(),
                     "log": str(svc.log_file), "details": svc.details() if pid else []})
    return rows


def cmd_status(settings, as_json, services=None, config_path=None):
    """Services; with a config also the pipeline (stack/status.py). Exit 0 only when all is well."""
    rows = status_rows(settings, services)
    pipeline = None
    if config_path is not None:
        from .status import pipeline_status
        pipeline = pipeline_status(settings, config_path)
    if as_json:
        print(json.dumps(rows if pipeline is None else {"services": rows, **pipeline}, indent=2, default=str))
    else:
        width = max([10] + [len(row["service"]) for row in rows])
        print(f"{'SERVICE':<{width}} {'PORT':>6} {'PID':>8}  {'HEALTH':<9} LOG")
        for row in rows:
            health = "healthy" if row["healthy"] else ("UNHEALTHY" if row["pid"] else "stopped")
            print(f"{row['service']:<{width}} {row['port']:>6} {row['pid'] or '-':>8}  {health:<9} {row['log']}")
            for line in row["details"]:
                print(f"{'':<{width + 18}}{line}")
        if pipeline is not None:
            from .status import format_pipeline
            print("\n".join(format_pipeline(pipeline)))
    if pipeline is not None:
        from .status import job_ok
        if not job_ok(pipeline):
            return 1
    return 0 if all(r["healthy"] for r in rows) else 1


def run(args, settings) -> int:
    """One command; its exit code."""
    if args.command == "jars":
        jars.ensure_jars(update_lock=args.update_lock)
    elif args.command in ("up", "start"):
        cmd_up(settings, args.services)
    elif args.command in ("down", "stop"):
        cmd_down(settings, args.services)
    elif args.command == "kill":
        for name in args.services:
            service(settings, name).kill()
    elif args.command == "status":
        return cmd_status(settings, args.json, None, None if args.services_only else Path(args.config).resolve())
    elif args.command == "submit":
        print(job.submit(settings, args.master, Path(args.config).resolve()))
    elif args.command == "stop-job":
        print(job.stop(settings))
    elif args.command == "compact":
        tables = tuple(arg for name in args.table for arg in ("--table", name))
        if args.schedule:
            app = dataclasses.replace(job.COMPACTION, args=(*job.COMPACTION.args, *tables))
            print(job.submit(settings, args.master, Path(args.config).resolve(), app=app))
        else:
            return job.run_foreground(settings, args.master, Path(args.config).resolve(), job.COMPACTION, tables)
    elif args.command == "workload":
        from .workload import RandomWorkload, mysql_connect
        with mysql_connect(settings) as conn:
            print(f"changed {RandomWorkload(args.seed).run(conn, changes=args.changes, rate=args.rate)} rows")
    elif args.command in ("add-table", "remove-table", "resnapshot"):
        from . import tables
        config_path = Path(args.config).resolve()
        if args.command == "add-table":
            lines = tables.add_table(settings, config_path, args.table, args.key)
        elif args.command == "remove-table":
            lines = tables.remove_table(settings, config_path, args.table)
        else:
            lines = tables.resnapshot(settings, config_path, args.table)
        print("\n".join(lines))
    elif args.command == "compact-stop":
        print(job.stop(settings, app=job.COMPACTION))
    elif args.command == "cluster-up":
        spark_cluster.up(settings)
        cmd_status(settings, False, spark_cluster.cluster_services(settings))
    elif args.command == "cluster-down":
        spark_cluster.down(settings)
    elif args.command == "cluster-status":
        return cmd_status(settings, args.json, spark_cluster.cluster_services(settings))
    elif args.command == "clean":
        job.stop(settings)
        cmd_down(settings, [])
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        print(f"removed {settings.state_dir}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("jars", help="resolve and verify the pinned jars (Maven) and binaries, build our Java")
    p.add_argument("--update-lock", action="store_true",
                   help="re-resolve jars/pom.xml and rewrite jars/maven.lock (after a version change)")
    for name, what in (("up", "start the services that are not running, in order, and wait until healthy"),
                       ("down", "stop the services (graceful, then forced), in reverse order"),
                       ("start", "start the named services (like up)"),
                       ("stop", "stop the named services (like down); the streaming job: stop-job"),
                       ("kill", "SIGKILL the named services (tests, chaos)")):
        p = sub.add_parser(name, help=what)
        p.add_argument("services", nargs="*", help="service names (default: all)")
    p = sub.add_parser("status", help="services, connector, streaming job, warehouse and lakehouse on one screen")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", default=str(Path("conf") / "pipeline.yaml"))
    p.add_argument("--services-only", action="store_true", help="only the stack's processes")
    sub.add_parser("clean", help="stop everything and delete the state directory")
    p = sub.add_parser("submit", help="start the streaming job with spark-submit (background)")
    p.add_argument("--master", default=os.environ.get("MASTER") or "local[2]")
    p.add_argument("--config", default=str(Path("conf") / "pipeline.yaml"))
    sub.add_parser("stop-job", help="stop the streaming job after its current micro-batch")
    p = sub.add_parser("compact", help="Iceberg maintenance: one run in the foreground, or --schedule in the background")
    p.add_argument("--master", default=os.environ.get("MASTER") or "local[2]")
    p.add_argument("--config", default=str(Path("conf") / "pipeline.yaml"))
    p.add_argument("--schedule", action="store_true", help="run every maintenance.interval until `compact-stop`")
    p.add_argument("--table", action="append", default=[], help="only this Iceberg table (repeatable)")
    p = sub.add_parser("workload", help="random inserts/updates/deletes on bankdb (bounded)")
    p.add_argument("--changes", type=int, default=10000, help="rows to change (default 10000)")
    p.add_argument("--rate", type=float, help="changes per second (default: as fast as MySQL takes them)")
    p.add_argument("--seed", type=int, default=1)
    for name, what in (("add-table", "capture a MySQL table while the pipeline runs: config, connector, incremental snapshot"),
                       ("remove-table", "stop capturing a table (config and connector; the sinks' tables stay)"),
                       ("resnapshot", "incremental snapshot of a captured table again (repairs)")):
        p = sub.add_parser(name, help=what)
        p.add_argument("table", help="<database>.<table>, e.g. bankdb.loans")
        p.add_argument("--config", default=str(Path("conf") / "pipeline.yaml"))
        if name == "add-table":
            p.add_argument("--key", default=None, help="key columns, comma-separated (default: the primary key)")
    sub.add_parser("compact-stop", help="stop the scheduled maintenance after its current step")
    sub.add_parser("cluster-up", help="start a Spark standalone master and worker (stack/spark_cluster.py)")
    sub.add_parser("cluster-down", help="stop the Spark standalone cluster (and a job running on it)")
    p = sub.add_parser("cluster-status", help="the Spark standalone master and worker: PID, health, apps")
    p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    started, launcher = time.monotonic(), None
    try:
        settings = load_settings()
        launcher = launcher_log(settings.state_dir)
        log_event(launcher, "stack_command", command=args.command, argv=list(sys.argv[1:] if argv is None else argv))
        code = run(args, settings)
    except (StackError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        if launcher is not None:  # else the settings failed: no log file, and the line above says it all
            log_event(launcher, "stack_command_failed", logging.ERROR, command=args.command, error=str(err))
        return 1
    log_event(launcher, "stack_command_done", command=args.command, exit_code=code,
              seconds=round(time.monotonic() - started, 1))
    return code


if __name__ == "__main__":
    sys.exit(main())
