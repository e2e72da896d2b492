"""spark-submit entry point of the CDC streaming job; `make submit` runs it (see README).

The query runs supervised (cdc_pipeline.supervisor): a failure restarts it from the checkpoint with
backoff, up to job.max_restarts in a row, then the job alerts and exits 1 (permanently failed).
SIGTERM or Ctrl-C stops the query gracefully: it waits for the running micro-batch to finish
(bounded), then stops; the next start resumes from the checkpoint.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from cdc_pipeline.alerts import Alerter, ConnectorWatcher
from cdc_pipeline.config_loader import load_config
from cdc_pipeline.metrics import BatchStats, ProgressLogger
from cdc_pipeline.stream import BatchWriter, start_query
from cdc_pipeline.supervisor import StatusFile, Supervisor

log = logging.getLogger("cdc_pipeline.job")
GRACEFUL_STOP_SECONDS = 120


def stop_after_current_batch(query, timeout: float = GRACEFUL_STOP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="conf/pipeline.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per callback otherwise
    config = load_config(args.config)

    stop_requested = threading.Event()

    def request_stop(signum, _frame):
        log.info("signal %d: stopping after the current micro-batch", signum)
        stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)

    from pyspark.sql import SparkSession

    # spark-submit (`make submit`) passed the whole configuration: cdc_pipeline.spark_session.
    spark = SparkSession.builder.appName(config.job.query_name).getOrCreate()
    status = StatusFile(config.job.status_file, config.job.query_name)
    status.update(state="starting", spark_ui=spark.sparkContext.uiWebUrl)
    alerter = Alerter(config.alerts.webhook_url, config.alerts.min_interval_ms / 1000)
    watcher = None
    if config.alerts.connect_url:
        watcher = ConnectorWatcher(config.alerts.connect_url, config.alerts.check_interval_ms / 1000, alerter)
        watcher.start()
    batch_stats = BatchStats()
    spark.streams.addListener(ProgressLogger(batch_stats, status))
    writer = BatchWriter(config, batch_stats, alerter)

    def start():
        query = start_query(spark, config, writer)
        log.info("query %s started (id %s); Spark UI: %s", query.name, query.id, spark.sparkContext.uiWebUrl)
        return query

    job = config.job
    code = Supervisor(start, status, alerter, job.max_restarts, job.restart_backoff_initial_ms,
                      job.restart_backoff_max_ms, stop_requested, stop_after_current_batch).run()
    if watcher is not None:
        watcher.stop()
    spark.stop()
    log.info("job exits with %d (%s)", code, status.state["state"])
    return code


if __name__ == "__main__":
    sys.exit(main())
