"""spark-submit entry point of the CDC streaming job; `make submit` runs it (see README).

SIGTERM or Ctrl-C stops the query gracefully: it waits for the running micro-batch to finish (bounded),
then stops; the next start resumes from the checkpoint.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from cdc_pipeline.config import load_config
from cdc_pipeline.metrics import BatchStats, ProgressLogger
from cdc_pipeline.stream import BatchWriter, start_query

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
    config = load_config(args.config)

    stop_requested = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop_requested.append(signum))

    from pyspark.sql import SparkSession

    # spark-submit (`make submit`) passed the whole configuration: cdc_pipeline.spark_session.
    spark = SparkSession.builder.appName(config.job.query_name).getOrCreate()
    batch_stats = BatchStats()
    spark.streams.addListener(ProgressLogger(batch_stats))
    query = start_query(spark, config, BatchWriter(config, batch_stats))
    log.info("query %s started (id %s); Spark UI: %s", query.name, query.id, spark.sparkContext.uiWebUrl)
    while query.isActive:
        if stop_requested:
            log.info("stop requested: finishing the current micro-batch")
            stop_after_current_batch(query)
            break
        query.awaitTermination(1)
    error = query.exception()
    spark.stop()
    if error is not None:
        log.error("query failed: %s", error)
        return 1
    log.info("query stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
