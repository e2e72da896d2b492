"""Fixtures of the unit tests: no stack, at most a local Spark."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def spark():
    """A local[1] session for this module. Module- rather than session-scoped on purpose: it has no
    Iceberg/S3 config, and a session left running would be handed (getOrCreate) to the stack tests'
    `lake` fixture later in the same pytest run."""
    os.environ.setdefault("TZ", "UTC")
    from pyspark.sql import SparkSession
    from cdc_pipeline.spark_session import build_session
    running = SparkSession.getActiveSession()
    session = running or build_session(None, app_name="cdc-tests-jvm-decode", master="local[1]",
                                       extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"})
    yield session
    if running is None:  # not someone else's
        session.stop()
