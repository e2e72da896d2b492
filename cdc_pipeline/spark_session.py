"""The SparkSession settings the job needs, in one place for spark-submit, tests and benchmarks."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPARK_JARS_DIR = REPO_ROOT / "jars" / "spark"
LOG4J_CONFIG = REPO_ROOT / "conf" / "log4j2.properties"
# Every JVM in UTC: JDBC timestamp binding and Spark's casts then agree on what an instant is.
JAVA_OPTIONS = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{LOG4J_CONFIG}"


def spark_jars() -> list[str]:
    jars = sorted(str(p) for p in SPARK_JARS_DIR.glob("*.jar"))
    if not any(Path(j).name.startswith("spark-sql-kafka-0-10_") for j in jars):
        raise FileNotFoundError(f"{SPARK_JARS_DIR} lacks the Spark jars (spark-sql-kafka-0-10); run `make jars`")
    return jars


def session_conf(config, app_name: str) -> dict[str, str]:
    """Everything the job's session needs; without a config, no Iceberg catalog (source-only use)."""
    conf = {
        "spark.app.name": app_name,
        "spark.jars": ",".join(spark_jars()),
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": JAVA_OPTIONS,
        "spark.executor.extraJavaOptions": JAVA_OPTIONS,
        "spark.sql.shuffle.partitions": os.environ.get("CDC_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # Micro-batches are small: do not let a stage wait for data locality.
        "spark.locality.wait": "0s",
        "spark.sql.streaming.metricsEnabled": "true",
        # Spark's own metrics (the streaming queries' too) in Prometheus's format on the UI's port:
        # /metrics/prometheus (driver), /metrics/executors/prometheus.
        "spark.ui.prometheus.enabled": "true",
        "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
        # The paths' queries share the executors: a short PostgreSQL batch must not queue behind every
        # task of a large Iceberg stage (FIFO would); each query runs in its own pool (stream.start_query).
        "spark.scheduler.mode": "FAIR",
    }
    if config is not None:
        conf.update(config.iceberg.spark_conf())
        if config.job.checkpoint_location.startswith("s3a://"):
            ice = config.iceberg
            conf.update(s3a_conf(ice.s3_endpoint, ice.s3_access_key, ice.s3_secret_key, ice.s3_region))
    return conf


def s3a_conf(endpoint: str, access_key: str, secret_key: str, region: str) -> dict[str, str]:
    """Hadoop's S3A filesystem (hadoop-aws in jars/spark) on an S3-compatible endpoint, for a checkpoint
    on s3a://: the job's checkpoint uses the lakehouse's S3 endpoint and credentials."""
    return {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https://")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
    }


def prepare_environment() -> None:
    """Bind the UI and executors to loopback, and run Python workers with this interpreter."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def build_session(config, app_name: str = "cdc-pipeline", master: str | None = None, extra: dict | None = None):
    prepare_environment()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if master:
        builder = builder.master(master)
    for key, value in {**session_conf(config, app_name), **(extra or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
