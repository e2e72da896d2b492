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


# Foundations first, the streaming job last: its session-scoped fixture then stops it right at the
# end, instead of leaving it running while the stack tests restart the broker and Connect. The cluster
# test comes after the pipeline tests: it stops their local job and runs the job on a standalone cluster.
SUITE_ORDER = ("tests/unit/", "tests/docker/", "tests/stack/", "tests/kafka_source/", "tests/pipeline/", "tests/cluster/")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid
        return next((i for i, prefix in enumerate(SUITE_ORDER) if path.startswith(prefix)), len(SUITE_ORDER))

    items.sort(key=rank)  # stable: the order inside each part is unchanged
