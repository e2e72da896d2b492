import os

import pytest

from alert_receiver import AlertReceiver
from pipeline_support import CONFIG, job_alive, start_job, stop_job
from stack_support import ensure_stack_up


@pytest.fixture(scope="session")
def alert_receiver():
    """The webhook the streaming job alerts to during the tests (conf/pipeline.yaml reads the env)."""
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def pipeline(alert_receiver):
    """The streaming job, started the way users start it (spark-submit, in the background), alerting
    to the test receiver with short intervals."""
    ensure_stack_up()
    os.environ.update(CDC_ALERT_WEBHOOK_URL=alert_receiver.url, CDC_ALERT_MIN_INTERVAL="1 second",
                      CDC_ALERT_CHECK_INTERVAL="2 seconds")
    if job_alive():
        stop_job()  # started by someone else: without the receiver
    start_job()
    yield CONFIG
    stop_job()
