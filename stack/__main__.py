"""python -m stack {jars|up|down|status|clean|start|stop|kill} — what the Makefile targets run."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from . import jars, job
from .errors import StackError
from .services import all_services, service
from .settings import load_settings


def cmd_up(settings, names):
    services = all_services(settings)
    wanted = [svc for svc in services if not names or svc.name in names]
    for svc in wanted:
        print(f"{svc.name:<10} ...", end=" ", flush=True)
        print(svc.start(), flush=True)
    print("stack is up; `make status` shows it, logs are in", settings.state_dir / "logs")


def cmd_down(settings, names):
    if not names:
        print(f"{'cdc-stream':<10} {job.stop(settings)}", flush=True)  # the job before what it reads
    for svc in reversed(all_services(settings)):
        if names and svc.name not in names:
            continue
        print(f"{svc.name:<10} {svc.stop()}", flush=True)


def status_rows(settings):
    rows = []
    for svc in all_services(settings):
        pid = svc.proc.pid()
        rows.append({"service": svc.name, "port": svc.port, "pid": pid,
                     "healthy": pid is not None and svc.is_healthy(),
                     "log": str(svc.log_file), "details": svc.details() if pid else []})
    return rows


def cmd_status(settings, as_json):
    rows = status_rows(settings)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'SERVICE':<10} {'PORT':>6} {'PID':>8}  {'HEALTH':<9} LOG")
        for row in rows:
            health = "healthy" if row["healthy"] else ("UNHEALTHY" if row["pid"] else "stopped")
            print(f"{row['service']:<10} {row['port']:>6} {row['pid'] or '-':>8}  {health:<9} {row['log']}")
            for line in row["details"]:
                print(f"{'':<28}{line}")
    return 0 if all(r["healthy"] for r in rows) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("jars", help="fetch and verify pinned jars/binaries, build our Java")
    for name in ("up", "down", "start", "stop", "kill"):
        p = sub.add_parser(name)
        p.add_argument("services", nargs="*", help="service names (default: all)")
    p = sub.add_parser("status")
    p.add_argument("--json", action="store_true")
    sub.add_parser("clean", help="stop everything and delete the state directory")
    p = sub.add_parser("submit", help="start the streaming job with spark-submit (background)")
    p.add_argument("--master", default=os.environ.get("MASTER") or "local[2]")
    p.add_argument("--config", default=str(Path("conf") / "pipeline.yaml"))
    sub.add_parser("stop-job", help="stop the streaming job after its current micro-batch")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if args.command == "jars":
            jars.ensure_jars()
        elif args.command in ("up", "start"):
            cmd_up(settings, args.services)
        elif args.command in ("down", "stop"):
            cmd_down(settings, args.services)
        elif args.command == "kill":
            for name in args.services:
                service(settings, name).kill()
        elif args.command == "status":
            return cmd_status(settings, args.json)
        elif args.command == "submit":
            print(job.submit(settings, args.master, Path(args.config).resolve()))
        elif args.command == "stop-job":
            print(job.stop(settings))
        elif args.command == "clean":
            job.stop(settings)
            cmd_down(settings, [])
            shutil.rmtree(settings.state_dir, ignore_errors=True)
            print(f"removed {settings.state_dir}")
    except (StackError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
