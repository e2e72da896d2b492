"""spark-submit entry point of the CDC streaming job; `make submit` runs it (see README).

One streaming query per sink path (`<job.query_name>.postgres`, `<job.query_name>.iceberg`;
cdc_pipeline.config.SinkPath), each supervised in its own thread (cdc_pipeline.supervisor): a failure
restarts that query from its checkpoint with backoff while the other keeps running, up to
job.max_restarts in a row; then the job alerts, stops the other path and exits 1 (permanently failed).
SIGTERM or Ctrl-C stops every query gracefully: each waits for its running micro-batch to finish
(bounded), then stops; the next start resumes from the checkpoints.

Each path holds its checkpoint's lease (cdc_pipeline.lease) while it runs: a second driver on the same
checkpoints exits 3 at start, before it touches the checkpoints or the status file.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from cdc_pipeline.alerts import Alerter, ConnectorWatcher
from cdc_pipeline.config_loader import LiveConfig
from cdc_pipeline.lease import CheckpointLease, LeaseHeld
from cdc_pipeline.logs import configure_json_logging
from cdc_pipeline.metrics import BatchStats, ProgressLogger, PrometheusExporter
from cdc_pipeline.stream import BatchWriter, start_query
from cdc_pipeline.supervisor import StatusFile, Supervisor

log = logging.getLogger("cdc_pipeline.job")
GRACEFUL_STOP_SECONDS = 120
EXIT_LEASE_HELD = 3


def stop_after_current_batch(query, timeout: float = GRACEFUL_STOP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="conf/pipeline.yaml")
    args = parser.parse_args(argv)
    configure_json_logging()
    live = LiveConfig(args.config)  # tables: follow the file (make add-table); the rest is fixed here
    config = live.config

    stop_requested = threading.Event()

    def request_stop(signum, _frame):
        log.info("signal %d: stopping after the current micro-batch", signum)
        stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)

    paths = config.sink_paths
    leases = {p.sink: CheckpointLease(config.postgres, p.checkpoint_location, p.query_name) for p in paths}
    try:
        for lease in leases.values():
            lease.hold_if_reachable()
    except LeaseHeld as err:
        log.error("%s", err)
        return EXIT_LEASE_HELD
    for lease in leases.values():
        lease.keep()

    from pyspark.sql import SparkSession

    # spark-submit (`make submit`) passed the whole configuration: cdc_pipeline.spark_session.
    spark = SparkSession.builder.appName(config.job.query_name).getOrCreate()
    alerter = Alerter(config.alerts.webhook_url, config.alerts.min_interval_ms / 1000)
    watcher = None
    if config.alerts.connect_url:
        watcher = ConnectorWatcher(config.alerts.connect_url, config.alerts.check_interval_ms / 1000, alerter)
        watcher.start()
    status = StatusFile(config.job.status_file, config.job.query_name, {p.sink: p.query_name for p in paths})
    exporter = PrometheusExporter()
    metrics_url = exporter.serve(config.job.metrics_host, config.job.metrics_port) if config.job.metrics_port else None
    status.update(spark_ui=spark.sparkContext.uiWebUrl, metrics_url=metrics_url)
    if metrics_url:
        log.info("Prometheus metrics: %s; Spark's own: %s/metrics/prometheus", metrics_url,
                 (spark.sparkContext.uiWebUrl or "").rstrip("/"))
    routes = {p.query_name: (BatchStats(), status.path_status(p.sink)) for p in paths}
    spark.streams.addListener(ProgressLogger(routes, exporter))
    job = config.job
    codes: dict[str, int] = {}

    def supervise(path):
        batch_stats, path_status = routes[path.query_name]
        writer = BatchWriter(config, path, batch_stats, alerter, lease=leases[path.sink], live=live)

        def start():
            leases[path.sink].hold_if_reachable()  # before Spark writes to the checkpoint
            query = start_query(spark, config, path, writer)
            log.info("query %s started (id %s, trigger %s); Spark UI: %s", query.name, query.id,
                     path.trigger_interval, spark.sparkContext.uiWebUrl)
            return query

        codes[path.sink] = Supervisor(start, path_status, alerter, job.max_restarts, job.restart_backoff_initial_ms,
                                      job.restart_backoff_max_ms, stop_requested, stop_after_current_batch).run()
        if codes[path.sink] != 0:
            stop_requested.set()  # a path that failed for good stops the job: loud, not half-running

    threads = [threading.Thread(target=supervise, args=(p,), name=f"supervise-{p.sink}") for p in paths]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):  # the main thread stays free for the signal handlers
        for thread in threads:
            thread.join(0.5)
    code = max(codes.values(), default=0)
    status.update(state="permanently_failed" if code else "stopped")
    if watcher is not None:
        watcher.stop()
    spark.stop()
    for lease in leases.values():
        lease.release()
    log.info("job exits with %d (%s)", code, status.state["state"])
    return code


if __name__ == "__main__":
    sys.exit(main())
