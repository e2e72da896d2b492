import os

import pytest

from stack_support import ensure_stack_up


@pytest.fixture
def restore_stack():
    """For tests that stop or kill services: whatever happens, leave the whole stack running."""
    yield
    ensure_stack_up()


@pytest.fixture(scope="session")
def lake():
    """A Spark session in the test process, to read the Iceberg tables the job writes (pipeline, cluster)."""
    os.environ.setdefault("TZ", "UTC")
    from cdc_pipeline.spark_session import build_session
    from pipeline_support import CONFIG
    spark = build_session(CONFIG, app_name="cdc-tests-reader", master="local[1]",
                          extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"})
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def alert_receiver():
    """The webhook the streaming job alerts to during the tests (conf/pipeline.yaml reads the env)."""
    from alert_receiver import AlertReceiver
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def pipeline(alert_receiver):
    """The streaming job, started the way users start it (spark-submit, in the background), alerting
    to the test receiver with short intervals (pipeline and chaos tests). The Iceberg path commits
    every 5 seconds instead of 30: the tests wait for both sinks, and still see two cadences."""
    from pipeline_support import CONFIG, job_alive, start_job, stop_job
    ensure_stack_up()
    os.environ.update(CDC_ALERT_WEBHOOK_URL=alert_receiver.url, CDC_ALERT_MIN_INTERVAL="1 second",
                      CDC_ALERT_CHECK_INTERVAL="2 seconds", CDC_ICEBERG_COMMIT_INTERVAL="5 seconds")
    if job_alive():
        stop_job()  # started by someone else: without the receiver
    start_job()
    yield CONFIG
    stop_job()


# Foundations first, the streaming job last: its session-scoped fixture then stops it right at the
# end, instead of leaving it running while the stack tests restart the broker and Connect. The cluster
# test comes after the pipeline tests: it stops their local job and runs the job on a standalone cluster.
SUITE_ORDER = ("tests/unit/", "tests/docker/", "tests/stack/", "tests/kafka_source/", "tests/pipeline/", "tests/chaos/", "tests/cluster/")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid
        return next((i for i, prefix in enumerate(SUITE_ORDER) if path.startswith(prefix)), len(SUITE_ORDER))

    items.sort(key=rank)  # stable: the order inside each part is unchanged
