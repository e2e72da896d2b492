import os

import pytest

from pipeline_support import CONFIG, job_alive, start_job, stop_job
from stack_support import ensure_stack_up


@pytest.fixture(scope="session")
def pipeline():
    """The streaming job, started the way users start it (spark-submit, in the background)."""
    ensure_stack_up()
    if not job_alive():
        start_job()
    yield CONFIG
    stop_job()


@pytest.fixture(scope="session")
def lake():
    """A Spark session in the test process, to read the Iceberg tables the job writes."""
    os.environ.setdefault("TZ", "UTC")
    from cdc_pipeline.spark_session import build_session
    spark = build_session(CONFIG, app_name="cdc-tests-reader", master="local[1]",
                          extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"})
    yield spark
    spark.stop()
