"""Ports, credentials and paths of the local stack, from the environment with seed-000 defaults.

Every value can be overridden by the environment variable named next to it; nothing here is a
secret worth protecting (local development defaults), but no code path hard-codes them either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackSettings:
    state_dir: Path
    mysql_port: int
    mysql_user: str
    mysql_password: str
    mysql_root_password: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_admin_user: str
    pg_admin_password: str
    pg_database: str
    pg_catalog_database: str
    s3_port: int
    s3_access_key: str
    s3_secret_key: str
    s3_region: str
    lake_bucket: str
    seaweed_master_port: int
    seaweed_volume_port: int
    seaweed_filer_port: int
    kafka_port: int
    kafka_controller_port: int
    connect_port: int
    kafka_metrics_port: int
    connect_metrics_port: int
    spark_master_port: int
    spark_master_ui_port: int
    spark_worker_ui_port: int
    spark_worker_cores: int
    spark_worker_memory: str
    spark_executor_memory: str
    host: str = "127.0.0.1"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.connect_port}"

    @property
    def kafka_metrics_url(self) -> str:
        return f"http://{self.host}:{self.kafka_metrics_port}/metrics"

    @property
    def connect_metrics_url(self) -> str:
        return f"http://{self.host}:{self.connect_metrics_port}/metrics"

    @property
    def spark_master_url(self) -> str:
        return f"spark://{self.host}:{self.spark_master_port}"

    @property
    def spark_master_ui_url(self) -> str:
        return f"http://{self.host}:{self.spark_master_ui_port}"

    @property
    def spark_worker_ui_url(self) -> str:
        return f"http://{self.host}:{self.spark_worker_ui_port}"

    def env(self) -> dict[str, str]:
        """The settings as CDC_* variables, so child processes and config files see the same values.
        The servers' administrator passwords are not among them: only the stack that sets the servers
        up uses them (the job, Connect and the tests' readers log in as their own users)."""
        out = {}
        for f in fields(self):
            if f.name not in ADMIN_SECRETS:
                out[ENV_NAMES.get(f.name, "CDC_" + f.name.upper())] = str(getattr(self, f.name))
        out["CDC_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        out["CDC_S3_ENDPOINT"] = self.s3_endpoint
        out["CDC_MYSQL_HOST"] = self.host
        out["CDC_PG_HOST"] = self.host
        return out


# name -> (environment variable, default)
_DEFAULTS: dict[str, tuple[str, object]] = {
    "state_dir": ("CDC_STATE_DIR", REPO_ROOT / ".stack"),
    "mysql_port": ("CDC_MYSQL_PORT", 3307),
    "mysql_user": ("CDC_MYSQL_USER", "debezium"),
    "mysql_password": ("CDC_MYSQL_PASSWORD", "dbz"),
    "mysql_root_password": ("CDC_MYSQL_ROOT_PASSWORD", "rootpw"),
    "pg_port": ("CDC_PG_PORT", 5432),
    # The pipeline's role: owns the warehouse tables, nothing else (no superuser, no CREATEDB/CREATEROLE).
    "pg_user": ("CDC_PG_USER", "dwuser"),
    "pg_password": ("CDC_PG_PASSWORD", "dwpassword"),
    # The superuser initdb creates; the stack uses it to create the databases and the pipeline's role.
    "pg_admin_user": ("CDC_PG_ADMIN_USER", "dwadmin"),
    "pg_admin_password": ("CDC_PG_ADMIN_PASSWORD", "dwadminpassword"),
    "pg_database": ("CDC_PG_DATABASE", "bankdw"),
    "pg_catalog_database": ("CDC_PG_CATALOG_DATABASE", "iceberg_catalog"),
    "s3_port": ("CDC_S3_PORT", 8333),
    "s3_access_key": ("CDC_S3_ACCESS_KEY", "cdcadmin"),
    "s3_secret_key": ("CDC_S3_SECRET_KEY", "cdcsecret"),
    "s3_region": ("CDC_S3_REGION", "us-east-1"),
    "lake_bucket": ("CDC_S3_BUCKET", "lakehouse"),
    "seaweed_master_port": ("CDC_SEAWEED_MASTER_PORT", 9333),
    "seaweed_volume_port": ("CDC_SEAWEED_VOLUME_PORT", 8380),
    "seaweed_filer_port": ("CDC_SEAWEED_FILER_PORT", 8888),
    "kafka_port": ("CDC_KAFKA_PORT", 9092),
    # The KRaft controller listener of the one-node broker (broker and controller in one process).
    "kafka_controller_port": ("CDC_KAFKA_CONTROLLER_PORT", 9093),
    "connect_port": ("CDC_CONNECT_PORT", 8083),
    # Prometheus JMX exporter agents (-javaagent, conf/jmx/) in the broker's and Connect's JVMs: /metrics.
    "kafka_metrics_port": ("CDC_KAFKA_METRICS_PORT", 9404),
    "connect_metrics_port": ("CDC_CONNECT_METRICS_PORT", 9405),
    # The Spark standalone cluster of `make cluster-up` (stack/spark_cluster.py).
    "spark_master_port": ("CDC_SPARK_MASTER_PORT", 7077),
    "spark_master_ui_port": ("CDC_SPARK_MASTER_UI_PORT", 8080),
    "spark_worker_ui_port": ("CDC_SPARK_WORKER_UI_PORT", 8081),
    "spark_worker_cores": ("CDC_SPARK_WORKER_CORES", 2),
    "spark_worker_memory": ("CDC_SPARK_WORKER_MEMORY", "2g"),
    "spark_executor_memory": ("CDC_SPARK_EXECUTOR_MEMORY", "1g"),  # per executor, jobs on spark:// masters
    "host": ("CDC_HOST", "127.0.0.1"),
}
ENV_NAMES = {name: env for name, (env, _) in _DEFAULTS.items()}
ADMIN_SECRETS = frozenset({"mysql_root_password", "pg_admin_password"})


def with_stack_defaults(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`environ` (os.environ), plus what the local stack derives from it (CDC_S3_ENDPOINT from CDC_S3_PORT,
    ...) for variables that are not set: what `make submit` gives the job, for the tools that read
    conf/pipeline.yaml outside it (`make verify`, `make lake-sql`). Set variables win; settings the
    stack rejects leave the environment as it is."""
    environ = dict(os.environ if environ is None else environ)
    try:
        derived = load_settings(environ).env()
    except ValueError:
        derived = {}
    return {**derived, **environ}


def load_settings(environ: dict[str, str] | None = None) -> StackSettings:
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(StackSettings):
        env_name, default = _DEFAULTS[f.name]
        raw = environ.get(env_name)
        if raw is None or raw == "":
            values[f.name] = default
            continue
        if isinstance(default, int):
            try:
                values[f.name] = int(raw)
            except ValueError:
                what = "an integer port number" if env_name.endswith("_PORT") else "an integer"
                raise ValueError(f"{env_name} must be {what}, got {raw!r}") from None
        elif isinstance(default, Path):
            values[f.name] = Path(raw).resolve()
        else:
            values[f.name] = raw
    if values["host"] not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"CDC_HOST must be a loopback address, got {values['host']!r}")
    return StackSettings(**values)
