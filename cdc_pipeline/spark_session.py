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
    if not any(j.endswith("cdc-kafka-source.jar") for j in jars):
        raise FileNotFoundError(f"{SPARK_JARS_DIR} lacks our jars (cdc-kafka-source.jar); run `make jars`")
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
    }
    if config is not None:
        conf.update(config.iceberg.spark_conf())
    return conf


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
