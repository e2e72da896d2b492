"""spark-submit entry point of Iceberg maintenance: `make compact` (one run) and `make compact-schedule`.

One run compacts every Iceberg table of the config (cdc_pipeline.maintenance) and logs what each
step did as one JSON record (event `cdc_maintenance`, with the table a person reads in `table`; on a
terminal the table is printed too); the exit code is 1 when a step failed. With --schedule it
runs every `maintenance.interval` until SIGTERM/SIGINT, which ends it after the current step.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from cdc_pipeline.config_loader import load_config
from cdc_pipeline.logs import configure_json_logging, log_event
from cdc_pipeline.maintenance import TableMaintenance, format_report, report_fields, run_every, run_ok

log = logging.getLogger("cdc_pipeline.compact")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="conf/pipeline.yaml")
    parser.add_argument("--schedule", action="store_true", help="run every maintenance.interval until SIGTERM")
    parser.add_argument("--table", action="append", help="only this Iceberg table (repeatable), e.g. bank_accounts_current")
    args = parser.parse_args(argv)
    configure_json_logging()
    config = load_config(args.config)

    from pyspark.sql import SparkSession

    # spark-submit (`make compact`) passed the whole configuration: cdc_pipeline.spark_session.
    spark = SparkSession.builder.appName("cdc-compact").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    maintenance = TableMaintenance(spark, config)
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("signal %d: stopping after the current step", signum)
        maintenance.stop_requested = True
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)

    failures = []

    def run_once() -> None:
        started, clock = datetime.now(timezone.utc), time.monotonic()
        reports = maintenance.run(args.table)
        table, ok = format_report(reports), run_ok(reports)
        if sys.stdout.isatty():  # a person ran `make compact`; the log record below is for machines
            print(table, flush=True)
        log_event(log, "cdc_maintenance", logging.INFO if ok else logging.WARNING,
                  **report_fields(reports, started, time.monotonic() - clock), table=table)
        if not ok:
            failures.append(started)

    if args.schedule:
        interval_s = config.maintenance.interval_ms / 1000
        log_event(log, "cdc_maintenance_scheduled", interval_s=interval_s)
        runs = run_every(interval_s, run_once, stop.is_set, stop.wait)
        log.info("scheduled maintenance stopped after %d run(s), %d with a failed step", runs, len(failures))
        spark.stop()
        return 0
    run_once()
    spark.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
