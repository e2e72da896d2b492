"""Entry point of the `spark` and `connect-setup` containers of docker-compose.yml.

    submit               spark-submit jobs/cdc_stream.py with conf/pipeline.yaml, in the foreground, with
                         the command `make submit` builds (stack.job.submit_argv: the same spark-submit
                         settings from cdc_pipeline.spark_session, the same --py-files zip). SIGTERM
                         (`docker compose stop`) stops the query after its micro-batch in flight, like
                         `make stop`; the exit code is the job's.
    register-connector   register conf/debezium-mysql-connector.json (Debezium's MySQL connector, for the
                         compose stack's MySQL 8.4; `make up` registers the MariaDB one) and wait until the
                         connector and its task run, with the code `make up` uses (stack.services.KafkaConnect).
    healthcheck          exit 0 when the driver's UI lists at least one active streaming query.

The local stack's code puts every service on one loopback host (stack/settings.py refuses any other).
ComposeSettings keeps all of it and only lets this container's CDC_* variables (set by docker-compose.yml
to the compose service names) override the endpoints it would derive from that host. Nothing else is a
second copy of the local settings.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

# docker/spark/entrypoint.py -> the repository root (/app in the container).
APP = Path(__file__).resolve().parents[2]
if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))

from stack import job  # noqa: E402
from stack.errors import StackError  # noqa: E402
from stack.process import wait_until  # noqa: E402
from stack.services import KafkaConnect  # noqa: E402
from stack.settings import StackSettings, load_settings  # noqa: E402

DEFAULT_MASTER = "local[2]"
DEFAULT_CONFIG = APP / "conf" / "pipeline.yaml"
# The compose stack's connector: MySqlConnector for MySQL 8.4 (KafkaConnect defaults to the local stack's
# conf/debezium-mariadb-connector.json, for MariaDB).
CONNECTOR_FILE = APP / "conf" / "debezium-mysql-connector.json"
# The Structured Streaming tab of the driver's UI (the first free port from 4040; nothing else runs here).
STREAMING_UI = "http://127.0.0.1:4040/StreamingQuery/"


class ComposeSettings(StackSettings):
    """The stack settings, with the endpoints named by the environment (kafka:9092, http://minio:9000, ...)."""

    def env(self) -> dict[str, str]:
        # The local stack's env() derives CDC_KAFKA_BOOTSTRAP, CDC_S3_ENDPOINT, CDC_PG_HOST, ... from its
        # loopback host; in a container the CDC_* variables compose sets win.
        return {**super().env(), **{k: v for k, v in self.environ.items() if k.startswith("CDC_")}}

    @property
    def connect_url(self) -> str:
        return self.environ.get("CDC_CONNECT_URL") or super().connect_url

    @property
    def environ(self) -> dict[str, str]:
        return self.__dict__.get("_environ", os.environ)


def compose_settings(environ: dict[str, str] | None = None) -> ComposeSettings:
    environ = dict(os.environ if environ is None else environ)
    base = load_settings(environ)
    settings = ComposeSettings(**{f.name: getattr(base, f.name) for f in fields(base)})
    object.__setattr__(settings, "_environ", environ)  # frozen dataclass: not a field, not compared
    return settings


def spark_submit_command(environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The spark-submit argv and environment of the `spark` service (what `make submit` would run)."""
    settings = compose_settings(environ)
    master = settings.environ.get("CDC_SPARK_MASTER") or DEFAULT_MASTER
    config_path = Path(settings.environ.get("CDC_PIPELINE_CONFIG") or DEFAULT_CONFIG)
    argv = job.submit_argv(settings, master, config_path)
    env = job._spark_env(settings)  # this process's environment + settings.env() + PYSPARK_PYTHON
    # `make submit` binds Spark to 127.0.0.1 so the UI is not reachable from other machines. In a container
    # that would make the UI unreachable through the published port; unset, Spark binds the UI to all
    # interfaces of the container's own network namespace, which compose publishes on the host's 127.0.0.1.
    env.pop("SPARK_LOCAL_IP", None)
    return argv, env


def submit() -> int:
    try:
        argv, env = spark_submit_command()
    except FileNotFoundError as err:  # cdc_pipeline.spark_session.spark_jars(): jars/spark not built
        print(f"error: {err}\nThe spark service mounts ./jars/spark: run `make jars` on the host, then "
              "`docker compose up -d` again.", file=sys.stderr)
        return 2
    except (StackError, ValueError) as err:  # a bad conf/pipeline.yaml or CDC_* value
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(" ".join(argv), flush=True)  # no secrets: stack.job.submit_argv keeps them in a 0600 file
    proc = subprocess.Popen(argv, env=env, cwd=APP)

    def graceful_stop(signum, _frame):
        # spark-submit execs its JVM (proc.pid); the Python driver is the JVM's child and the one that
        # finishes the micro-batch in flight before stopping (jobs/cdc_stream.py), as `make stop` does.
        driver = job._python_driver_of(proc.pid, job.STREAM.script)
        print(f"signal {signum}: stopping the query after its current micro-batch", flush=True)
        try:
            os.kill(driver if driver is not None else proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, graceful_stop)
    signal.signal(signal.SIGINT, graceful_stop)
    return proc.wait()


def compose_connect(settings: StackSettings) -> KafkaConnect:
    """Kafka Connect as the `connect` service, with the compose stack's connector file."""
    return KafkaConnect(settings, connector_file=CONNECTOR_FILE)


def register_connector() -> int:
    settings = compose_settings()
    connect = compose_connect(settings)
    try:
        wait_until(connect.health, 180, f"Kafka Connect at {settings.connect_url}", interval=2)
        connect.after_start()  # PUT the config when it differs, wait until RUNNING, fail on FAILED
    except StackError as err:
        print(f"error: {err}\n(Connect's log: `docker compose logs connect`)", file=sys.stderr)
        return 1
    print(f"connector {connect.connector_name}: RUNNING", flush=True)
    return 0


def active_queries(html: str) -> int:
    """The number in the tab's "Active Streaming Queries (N)" heading (0 when absent)."""
    found = re.search(r"Active Streaming Queries \((\d+)\)", html)
    return int(found.group(1)) if found else 0


def healthcheck() -> int:
    import urllib.request
    try:
        with urllib.request.urlopen(STREAMING_UI, timeout=5) as resp:
            html = resp.read().decode(errors="replace")
    except OSError as err:
        print(f"Spark UI not answering: {err}", file=sys.stderr)
        return 1
    count = active_queries(html)
    print(f"active streaming queries: {count}")
    return 0 if count > 0 else 1


COMMANDS = {"submit": submit, "register-connector": register_connector, "healthcheck": healthcheck}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print(f"usage: entrypoint.py {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    return COMMANDS[args[0]]()


if __name__ == "__main__":
    sys.exit(main())
