"""docker-compose.yml, checked offline: the real `docker-compose config` output, parsed.

There is no Docker engine here or in CI, so nothing is started; these tests check what `docker compose up`
would be given: the services, their published ports, mounts, environment, health and order, and that the
Spark container builds the same spark-submit command as `make submit`. `make setup` installs docker-compose
(Debian's 1.29, APT_PACKAGES in the Makefile); without it these tests fail rather than skip.
"""
from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from cdc_pipeline.config_loader import load_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CONNECTOR_FILE = REPO / "conf" / "debezium-mysql-connector.json"
WORKER_PROPERTIES = REPO / "conf" / "connect-distributed.properties"
PIPELINE_YAML = REPO / "conf" / "pipeline.yaml"
# The local stack's JVM versions (Maven properties: kafka.version, debezium.version, spark.kafka.version).
MAVEN_POM = REPO / "jars" / "pom.xml"
SPARK_JARS = REPO / "jars" / "spark"

PIPELINE_SERVICES = {"mysql", "postgres", "minio", "kafka", "connect", "spark"}
MONITORING_SERVICES = {"prometheus", "grafana"}
ONE_SHOT_SERVICES = {"mysql-setup", "minio-setup", "connect-setup"}
# The host-side defaults are the local stack's (stack/settings.py), so the README's host commands work as they are.
DEFAULT_HOST_PORTS = {"mysql": {3307}, "postgres": {5432}, "minio": {8333, 9001}, "kafka": {9092, 9404},
                      "connect": {8083, 9405}, "spark": {4040, 9464}, "prometheus": {9090}, "grafana": {3000}}
MAVEN_LOCK = REPO / "jars" / "maven.lock"
JAVAAGENT = re.compile(r"-javaagent:(?P<jar>[^=\s]+)=(?:(?P<host>[^:\s]+):)?(?P<port>\d+):(?P<config>\S+)")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}")


def compose_config(**overrides: str) -> dict:
    """`docker-compose config` of the repository's file, with only `overrides` among the CDC_* variables."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `make setup` installs it (Debian package docker-compose, "
                    "APT_PACKAGES in the Makefile); these tests validate docker-compose.yml with it")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDC_", "COMPOSE_"))}
    env.update(overrides)
    proc = subprocess.run([exe, "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr  # e.g. a variable without a default
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config()


def env_of(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each published port, short or long syntax."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 3:
            out.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            out.append(("", int(parts[0]), int(parts[1])))
        else:
            out.append(("", 0, int(parts[0])))
    return out


def bind_mounts(service: dict) -> dict[str, Path]:
    """container path -> host path of each bind mount (named volumes left out)."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                out[volume["target"]] = Path(volume["source"])
            continue
        source, target = str(volume).split(":")[:2]
        if source.startswith(("/", ".")):
            out[target] = Path(source)
    return out


def pom_properties() -> dict[str, str]:
    """The <properties> of jars/pom.xml, which pins every JVM version of the local stack."""
    assert MAVEN_POM.is_file(), f"{MAVEN_POM} is missing: it pins the versions the compose images must match"
    root = ET.parse(MAVEN_POM).getroot()
    ns = {"m": root.tag[1:root.tag.index("}")]} if root.tag.startswith("{") else {}
    props = root.find("m:properties" if ns else "properties", ns)
    return {child.tag.split("}")[-1]: (child.text or "").strip() for child in props}


def env_refs(value) -> set[str]:
    """Names used as ${NAME}, ${NAME:-default} or ${env:NAME} in the string values of a parsed document."""
    if isinstance(value, dict):
        return set().union(*(env_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_refs(v) for v in value)) if value else set()
    if isinstance(value, str):
        return set(ENV_REF.findall(value)) | set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", value))
    return set()


# -- services, ports, mounts ----------------------------------------------------------------------


def test_every_service_of_the_pipeline_is_defined(compose):
    services = set(compose["services"])
    assert PIPELINE_SERVICES | ONE_SHOT_SERVICES <= services, sorted(services)
    images = {name: compose["services"][name].get("image", "") for name in services}
    assert re.fullmatch(r"mysql:8(\.\d+)*", images["mysql"]), images["mysql"]
    assert images["kafka"].startswith("apache/kafka:"), images["kafka"]
    assert images["minio-setup"].startswith("minio/mc:"), images["minio-setup"]
    assert compose["services"]["spark"]["build"]["dockerfile"] == "docker/spark/Dockerfile"


def test_connect_image_is_the_debezium_version_of_the_local_stack(compose):
    local = pom_properties()["debezium.version"]
    assert local == "3.5.0.Final", local  # the release whose MariaDB and MySQL connectors are both served
    image = compose["services"]["connect"]["image"]
    assert image == f"quay.io/debezium/connect:{local}", (image, local)


def test_kafka_image_is_the_kafka_version_of_the_local_stack(compose):
    local = pom_properties()["kafka.version"]
    assert local == "4.1.1", local  # the Kafka that Debezium 3.5.0.Final is built against
    image = compose["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{local}", (image, local)


def test_published_ports_bind_loopback_only(compose):
    seen = {}
    for name, service in compose["services"].items():
        for host_ip, host_port, _ in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes port {host_port} on {host_ip or 'all interfaces'}"
            seen.setdefault(name, set()).add(host_port)
    assert seen == DEFAULT_HOST_PORTS


def test_mounted_host_paths_exist_in_the_repo(compose):
    mounts = {name: bind_mounts(service) for name, service in compose["services"].items()}
    for name, by_target in mounts.items():
        for target, source in by_target.items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert source.resolve().is_relative_to(REPO), f"{name}: {source} is outside the repository"

    assert mounts["mysql"]["/docker-entrypoint-initdb.d"] == REPO / "mysql-init"
    assert mounts["postgres"]["/docker-entrypoint-initdb.d"] == REPO / "postgres-dw-init"
    spark = mounts["spark"]
    assert spark["/app/jobs"] == REPO / "jobs"
    assert spark["/app/cdc_pipeline"] == REPO / "cdc_pipeline"
    assert spark["/app/jars/spark"] == REPO / "jars" / "spark"
    assert spark["/app/jars/spark"].is_dir(), "run `make jars`"
    assert (spark["/app/conf"] / "pipeline.yaml") == PIPELINE_YAML
    assert (mounts["connect-setup"]["/app/conf"] / "debezium-mysql-connector.json") == CONNECTOR_FILE
    # The entry point both containers run, from the mounted tree (Dockerfile ENTRYPOINT).
    assert spark["/app/docker/spark"] / "entrypoint.py" == REPO / "docker" / "spark" / "entrypoint.py"
    assert "/app/docker/spark/entrypoint.py" in (REPO / "docker" / "spark" / "Dockerfile").read_text()


def test_spark_jars_are_sparks_kafka_source_from_maven_central():
    """jars/spark, mounted into the spark container, holds Spark's own Kafka source and not the old parts."""
    assert SPARK_JARS.is_dir(), f"{SPARK_JARS} does not exist: run `make jars`"
    names = {p.name for p in SPARK_JARS.glob("*.jar")}
    kafka = pom_properties()["spark.kafka.version"]
    for jar in (f"spark-sql-kafka-0-10_2.12-{kafka}.jar", f"spark-token-provider-kafka-0-10_2.12-{kafka}.jar",
                "cdc-iceberg-commit.jar"):
        assert jar in names, f"{jar} missing from {SPARK_JARS}: run `make jars`"
    for prefix in ("kafka-clients-", "commons-pool2-", "iceberg-spark-runtime-3.5_2.12-", "iceberg-aws-bundle-",
                   "postgresql-"):
        assert any(n.startswith(prefix) for n in names), f"no {prefix}*.jar in {SPARK_JARS}: run `make jars`"
    # Left over from the old build, they would still be put on spark.jars (every *.jar of the folder): our own
    # Kafka source, the AWS stubs, and AWS SDK jars taken from wheels, which iceberg-aws-bundle replaces.
    stale = sorted(n for n in names if n in ("cdc-kafka-source.jar", "cdc-aws-stubs.jar")
                   or re.fullmatch(r"(sdk-core|aws-core|s3|regions|auth|utils)-2\.\d+\.\d+\.jar", n))
    assert not stale, f"stale jars in {SPARK_JARS}: {stale}"


def test_spark_image_installs_requirements_txt(compose):
    build = compose["services"]["spark"]["build"]
    assert Path(build["context"]) == REPO
    dockerfile = REPO / build["dockerfile"]
    text = dockerfile.read_text()
    assert re.search(r"pip install .*-r /tmp/requirements\.txt", text), "the image must use the project's pins"
    assert "openjdk-17" in text
    # BuildKit's per-Dockerfile ignore file keeps .venv, .cache and .stack out of the build context.
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().split()
    assert ignore[ignore.index("*"):] == ["*", "!requirements.txt"]


# -- MySQL, Connect and the connector file ----------------------------------------------------------


def test_mysql_runs_with_a_row_binlog_and_full_row_image(compose):
    command = compose["services"]["mysql"]["command"]
    args = command.split() if isinstance(command, str) else command
    assert "--binlog-format=ROW" in args
    assert "--binlog-row-image=FULL" in args
    assert any(a.startswith("--log-bin") for a in args)
    server_id = [a for a in args if a.startswith("--server-id=")]
    assert server_id and int(server_id[0].split("=")[1]) > 0
    # Debezium's own server id must differ from the server's.
    connector = json.loads(CONNECTOR_FILE.read_text())["config"]
    assert connector["database.server.id"] != server_id[0].split("=")[1]


def test_debezium_user_matches_the_connector_and_the_setup_grants(compose):
    mysql, connect, setup = (env_of(compose, s) for s in ("mysql", "connect", "mysql-setup"))
    assert mysql["MYSQL_USER"] == connect["CDC_MYSQL_USER"] == setup["CDC_MYSQL_USER"] == "debezium"
    assert mysql["MYSQL_PASSWORD"] == connect["CDC_MYSQL_PASSWORD"] == setup["CDC_MYSQL_PASSWORD"] == "dbz"
    assert mysql["MYSQL_DATABASE"] == "bankdb"
    script = (REPO / "docker" / "mysql" / "setup.sh").read_text()
    # The privileges `make up` grants (stack/services.py), which the connector needs for snapshot and binlog.
    services_py = (REPO / "stack" / "services.py").read_text()
    grant = " ".join(re.search(r"GRANT (SELECT, RELOAD[^;]*?)\s+ON \*\.\*", services_py).group(1).split())
    assert "REPLICATION SLAVE" in grant
    assert f"GRANT {grant} ON *.*" in script


def test_connector_env_references_are_all_set_on_connect(compose):
    connector = json.loads(CONNECTOR_FILE.read_text())
    refs = env_refs(connector["config"])
    assert {"CDC_MYSQL_HOST", "CDC_MYSQL_PORT", "CDC_MYSQL_USER", "CDC_MYSQL_PASSWORD"} <= refs
    env = env_of(compose, "connect")
    missing = sorted(name for name in refs if not env.get(name))
    assert not missing, f"conf/debezium-mysql-connector.json uses ${{env:...}} not set on connect: {missing}"
    assert env["CDC_MYSQL_HOST"] == "mysql" and env["CDC_MYSQL_HOST"] in compose["services"]
    assert env["CDC_MYSQL_PORT"] == "3306"
    # The worker resolves ${env:...} only with the env config provider enabled.
    assert env["CONNECT_CONFIG_PROVIDERS"] == "env"
    assert env["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"] == \
        "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
    # The schema history file sits on the connect-data volume, so it survives a container restart.
    volumes = [str(v) for v in compose["services"]["connect"]["volumes"]]
    history_dir = str(Path(env["CDC_DEBEZIUM_HISTORY_FILE"]).parent)
    assert any(v.startswith("connect-data:" + history_dir) for v in volumes), volumes


# The Debezium image sets these worker properties from its own variable names, the rest from CONNECT_*.
IMAGE_VARIABLES = {"bootstrap.servers": "BOOTSTRAP_SERVERS", "group.id": "GROUP_ID",
                   "config.storage.topic": "CONFIG_STORAGE_TOPIC", "offset.storage.topic": "OFFSET_STORAGE_TOPIC",
                   "status.storage.topic": "STATUS_STORAGE_TOPIC", "key.converter": "KEY_CONVERTER",
                   "value.converter": "VALUE_CONVERTER", "offset.flush.interval.ms": "OFFSET_FLUSH_INTERVAL_MS"}
# Not carried over: the REST listener is the container's (REST_HOST_NAME, ADVERTISED_HOST_NAME), and where
# the worker finds its plugins is the image's own (its plugin path, /kafka/connect, holds Debezium).
NOT_CARRIED_OVER = {"listeners", "rest.advertised.host.name", "rest.advertised.port", "plugin.discovery",
                    "plugin.path"}


def test_connect_worker_has_the_settings_of_connect_distributed_properties(compose):
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str
    parser.read_string("[worker]\n" + WORKER_PROPERTIES.read_text())
    env = env_of(compose, "connect")
    assert env["BOOTSTRAP_SERVERS"] == "kafka:9092"
    checked = 0
    for key, value in parser["worker"].items():
        if key in NOT_CARRIED_OVER or "${env:" in value:
            continue
        variable = IMAGE_VARIABLES.get(key, "CONNECT_" + key.upper().replace(".", "_"))
        assert env.get(variable) == value, f"{key}={value} of {WORKER_PROPERTIES.name}: connect has " \
                                           f"{variable}={env.get(variable)!r}"
        checked += 1
    assert checked >= 10


def test_connect_producer_compresses_with_zstd_in_large_batches(compose):
    env = env_of(compose, "connect")
    assert env["CONNECT_PRODUCER_COMPRESSION_TYPE"] == "zstd"
    assert env["CONNECT_PRODUCER_LINGER_MS"] == "20"
    assert env["CONNECT_PRODUCER_BATCH_SIZE"] == "524288"
    # The broker keeps the producer's compression (its default, compression.type=producer).
    assert env_of(compose, "kafka").get("KAFKA_COMPRESSION_TYPE", "producer") == "producer"


# -- Spark and conf/pipeline.yaml ----------------------------------------------------------------


def test_pipeline_yaml_resolves_to_compose_services_in_spark(compose):
    env = env_of(compose, "spark")
    # Every variable conf/pipeline.yaml uses is set, so none falls back to its 127.0.0.1 default.
    used = env_refs(yaml.safe_load(PIPELINE_YAML.read_text()))
    assert {"CDC_KAFKA_BOOTSTRAP", "CDC_S3_ENDPOINT", "CDC_PG_HOST"} <= used
    assert not sorted(used - set(env)), f"not set on spark: {sorted(used - set(env))}"

    config = load_config(PIPELINE_YAML, env)
    services = set(compose["services"])
    assert config.source.bootstrap_servers == "kafka:9092"
    assert config.iceberg.s3_endpoint == "http://minio:9000"
    assert config.postgres.host == "postgres" and config.postgres.port == 5432
    assert config.iceberg.catalog_uri == "jdbc:postgresql://postgres:5432/iceberg_catalog"
    assert config.mysql.host == "mysql" and config.mysql.port == 3306
    hosts = {config.source.bootstrap_servers.split(":")[0], urlsplit(config.iceberg.s3_endpoint).hostname,
             config.postgres.host, urlsplit(config.iceberg.catalog_uri[len("jdbc:"):]).hostname, config.mysql.host}
    assert hosts <= services, hosts - services
    assert config.iceberg.warehouse == "s3://lakehouse/warehouse"
    assert env_of(compose, "minio-setup")["CDC_S3_BUCKET"] == "lakehouse"
    # The checkpoint is on the spark-state volume: a new container resumes where the last one stopped.
    volumes = [str(v) for v in compose["services"]["spark"]["volumes"]]
    state = env["CDC_STATE_DIR"]
    assert f"spark-state:{state}:rw" in volumes
    assert config.job.checkpoint_location.startswith(state + "/")


def test_credentials_and_host_ports_come_from_cdc_variables():
    overrides = {"CDC_MYSQL_PASSWORD": "my-pw-1", "CDC_MYSQL_ROOT_PASSWORD": "my-root-2",
                 "CDC_PG_PASSWORD": "pg-pw-3", "CDC_S3_SECRET_KEY": "s3-secret-4", "CDC_S3_ACCESS_KEY": "s3-key-5",
                 "CDC_PG_ADMIN_PASSWORD": "pg-admin-6", "CDC_PG_ADMIN_USER": "pg-admin-user-7",
                 "CDC_PG_PORT": "6543", "CDC_KAFKA_PORT": "19999", "CDC_MYSQL_PORT": "13306"}
    compose = compose_config(**overrides)
    text = yaml.safe_dump(compose)
    for default in ("dwpassword", "dwadminpassword", "rootpw", "cdcsecret", "cdcadmin"):
        assert default not in text, f"{default!r} is hard-coded somewhere in docker-compose.yml"
    assert not re.search(r"\bdbz\b", text), "the MySQL password 'dbz' is hard-coded"

    # the administrator is the image's superuser; the pipeline's role is created by postgres-dw-init
    postgres = env_of(compose, "postgres")
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]) == ("pg-admin-user-7", "pg-admin-6")
    assert postgres["CDC_PG_PASSWORD"] == "pg-pw-3"
    assert "pg-admin-6" not in yaml.safe_dump({k: v for k, v in compose["services"].items() if k != "postgres"})
    assert env_of(compose, "mysql")["MYSQL_ROOT_PASSWORD"] == "my-root-2"
    assert env_of(compose, "connect")["CDC_MYSQL_PASSWORD"] == "my-pw-1"
    assert env_of(compose, "minio")["MINIO_ROOT_PASSWORD"] == "s3-secret-4"
    spark = env_of(compose, "spark")
    assert (spark["CDC_PG_PASSWORD"], spark["CDC_S3_SECRET_KEY"], spark["CDC_S3_ACCESS_KEY"]) == \
        ("pg-pw-3", "s3-secret-4", "s3-key-5")
    # Host ports move; the ports containers use inside the network do not.
    assert ("127.0.0.1", 6543, 5432) in published_ports(compose["services"]["postgres"])
    assert ("127.0.0.1", 13306, 3306) in published_ports(compose["services"]["mysql"])
    assert ("127.0.0.1", 19999, 19092) in published_ports(compose["services"]["kafka"])
    assert spark["CDC_PG_PORT"] == "5432"
    assert env_of(compose, "connect")["CDC_MYSQL_PORT"] == "3306"
    assert "HOST://127.0.0.1:19999" in env_of(compose, "kafka")["KAFKA_ADVERTISED_LISTENERS"]


def test_kafka_runs_kraft_and_advertises_its_service_name(compose):
    env = env_of(compose, "kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["CLUSTER_ID"]


# -- health and start order ----------------------------------------------------------------------


def test_long_running_services_have_healthchecks(compose):
    for name in PIPELINE_SERVICES | MONITORING_SERVICES:
        test = compose["services"][name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_services_start_after_what_they_need(compose):
    services = compose["services"]

    def conditions(name):
        return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}

    for name in services:
        for dep, condition in conditions(name).items():
            assert dep in services
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT_SERVICES
    assert conditions("connect") == {"kafka": "service_healthy"}
    assert conditions("mysql-setup") == {"mysql": "service_healthy"}
    assert conditions("minio-setup") == {"minio": "service_healthy"}
    assert conditions("connect-setup") == {"connect": "service_healthy", "mysql-setup": "service_completed_successfully"}
    assert conditions("spark") == {"kafka": "service_healthy", "postgres": "service_healthy",
                                   "minio-setup": "service_completed_successfully",
                                   "connect-setup": "service_completed_successfully"}
    for name in ONE_SHOT_SERVICES:
        assert services[name].get("restart") == "no"
    # a job that gave up (permanently_failed, exit 1) is not started again forever
    assert services["spark"]["restart"] == "on-failure:3"
    # its JSON log lines are rotated by Docker
    assert services["spark"]["logging"] == {"driver": "json-file", "options": {"max-size": "50m", "max-file": "5"}}


# -- the Spark container's command ----------------------------------------------------------------


@pytest.fixture(scope="module")
def entrypoint():
    """docker/spark/entrypoint.py, the `spark` and `connect-setup` containers' entry point."""
    sys.path.insert(0, str(REPO / "docker" / "spark"))
    try:
        import entrypoint
    finally:
        sys.path.remove(str(REPO / "docker" / "spark"))
    return entrypoint


def test_spark_container_submits_the_job_like_make_submit(compose, entrypoint, tmp_path):
    from cdc_pipeline.spark_session import session_conf

    env = {**env_of(compose, "spark"), "CDC_STATE_DIR": str(tmp_path)}
    argv, spark_env = entrypoint.spark_submit_command(env)

    assert Path(argv[0]).name == "spark-submit"
    assert argv[argv.index("--master") + 1] == env["CDC_SPARK_MASTER"] == "local[2]"
    assert argv[-3:] == [str(REPO / "jobs" / "cdc_stream.py"), "--config", str(PIPELINE_YAML)]
    assert Path(argv[argv.index("--py-files") + 1]).is_file()
    confs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    # Exactly the session settings of the local job, for the config as the container sees it; the
    # secret ones in the 0600 properties file, not on the command line.
    secrets_file = Path(argv[argv.index("--properties-file") + 1])
    secrets = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines())
    assert secrets and not set(secrets) & set(confs)
    assert {**confs, **secrets} == session_conf(load_config(PIPELINE_YAML, env), "cdc-to-lakehouse-and-warehouse")
    assert confs["spark.sql.catalog.lake.uri"] == "jdbc:postgresql://postgres:5432/iceberg_catalog"
    assert confs["spark.sql.catalog.lake.s3.endpoint"] == "http://minio:9000"
    # Spark's own Kafka source from the mounted jars/spark, not our former one.
    jars = [Path(j).name for j in confs["spark.jars"].split(",")]
    assert f"spark-sql-kafka-0-10_2.12-{pom_properties()['spark.kafka.version']}.jar" in jars, jars
    assert "cdc-kafka-source.jar" not in jars and "cdc-aws-stubs.jar" not in jars, jars
    # The driver reads conf/pipeline.yaml again with this environment.
    assert spark_env["CDC_KAFKA_BOOTSTRAP"] == "kafka:9092" and spark_env["CDC_PG_HOST"] == "postgres"
    assert "SPARK_LOCAL_IP" not in spark_env  # else the UI would not be reachable through the published port
    assert "cdcsecret" not in " ".join(argv) and "dwpassword" not in " ".join(argv)


def test_connect_setup_registers_the_connector_file_at_the_connect_service(compose, entrypoint):
    env = env_of(compose, "connect-setup")
    assert compose["services"]["connect-setup"]["command"] == ["register-connector"]
    settings = entrypoint.compose_settings(env)
    connect = entrypoint.compose_connect(settings)  # what `register-connector` registers
    assert connect.s.connect_url == env["CDC_CONNECT_URL"] == "http://connect:8083"
    assert connect.connector_file == CONNECTOR_FILE
    assert connect.connector_name == "mysql-connector"
    # MySQL 8.4 in compose: Debezium's MySQL connector (the local stack's MariaDB one would not fit).
    assert connect.connector_spec()["config"]["connector.class"] == "io.debezium.connector.mysql.MySqlConnector"


def test_spark_is_healthy_only_with_an_active_query(compose, entrypoint):
    assert compose["services"]["spark"]["healthcheck"]["test"] == \
        ["CMD", "python", "/app/docker/spark/entrypoint.py", "healthcheck"]
    # The heading of Spark 3.5's Structured Streaming tab, with and without a running query.
    assert entrypoint.active_queries('<a>Active Streaming Queries (1)</a>') == 1
    assert entrypoint.active_queries('<h5 id="activequeries">Active Streaming Queries (0)</h5>') == 0
    assert entrypoint.active_queries("<html>Spark Jobs</html>") == 0


NOT_FOR_CONNECT = ("CDC_PG_PASSWORD", "CDC_S3_SECRET_KEY", "CDC_S3_ACCESS_KEY", "CDC_MYSQL_ROOT_PASSWORD",
                   "CDC_ALERT_WEBHOOK_URL", "PATH", "HOME")


def test_connect_reads_only_the_environment_variables_its_configs_use(compose):
    """Kafka's EnvVarConfigProvider resolves only names its allowlist matches (fully): exactly those the
    worker file and the connector JSON reference, locally and in compose, and none of the secrets."""
    worker = (REPO / "conf" / "connect-distributed.properties").read_text()
    [local] = re.findall(r"^config\.providers\.env\.param\.allowlist\.pattern=(.+)$", worker, re.M)
    docker = env_of(compose, "connect")["CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN"]
    refs = lambda text: set(re.findall(r"\$\{env:([A-Za-z0-9_]+)\}", text))  # noqa: E731
    for pattern, texts in ((local, [worker, (REPO / "conf" / "debezium-mariadb-connector.json").read_text()]),
                           (docker, [(REPO / "conf" / "debezium-mysql-connector.json").read_text()])):
        used = set().union(*(refs(t) for t in texts))
        assert used and all(re.fullmatch(pattern, name) for name in used), (pattern, used)
        assert not [n for n in NOT_FOR_CONNECT if re.fullmatch(pattern, n)], pattern


# -- monitoring: JMX exporter agents, Prometheus, Grafana ------------------------------------------------


def javaagent(compose: dict, name: str) -> re.Match:
    match = JAVAAGENT.search(env_of(compose, name).get("KAFKA_OPTS", ""))
    assert match, f"{name}: no -javaagent:<jar>=[host:]<port>:<config> in KAFKA_OPTS"
    return match


def test_broker_and_connect_run_the_local_stacks_jmx_exporter_agent_and_rules(compose):
    locked = [line.split("\t") for line in MAVEN_LOCK.read_text().splitlines()
              if line.startswith("jmx-agent\t")]
    assert len(locked) == 1, "jars/maven.lock pins one jmx-agent jar"
    agent_file = locked[0][1]
    for name, rules in (("kafka", "kafka-broker.yaml"), ("connect", "kafka-connect.yaml")):
        agent = javaagent(compose, name)
        mounts = bind_mounts(compose["services"][name])
        jar, config = Path(agent["jar"]), Path(agent["config"])
        assert jar.name == agent_file, (jar, agent_file)
        assert mounts.get(str(jar.parent)) == REPO / "jars" / "agents", f"{name}: {jar.parent} is not jars/agents"
        assert mounts.get(str(config.parent)) == REPO / "conf" / "jmx", f"{name}: {config.parent} is not conf/jmx"
        assert config.name == rules and (REPO / "conf" / "jmx" / rules).is_file()
        # Inside the container the agent listens on every interface (Prometheus is another container);
        # the host sees it on 127.0.0.1 only (test_published_ports_bind_loopback_only).
        assert agent["host"] is None, agent.group(0)
        assert int(agent["port"]) in {target for _, _, target in published_ports(compose["services"][name])}


def test_jmx_metrics_host_ports_come_from_the_local_stacks_variables():
    compose = compose_config(CDC_KAFKA_METRICS_PORT="19404", CDC_CONNECT_METRICS_PORT="19405",
                             CDC_PROMETHEUS_PORT="19090", CDC_GRAFANA_PORT="13000")
    assert ("127.0.0.1", 19404, 9404) in published_ports(compose["services"]["kafka"])
    assert ("127.0.0.1", 19405, 9405) in published_ports(compose["services"]["connect"])
    assert ("127.0.0.1", 19090, 9090) in published_ports(compose["services"]["prometheus"])
    assert ("127.0.0.1", 13000, 3000) in published_ports(compose["services"]["grafana"])
    from stack.settings import load_settings
    local = load_settings({})
    assert (local.kafka_metrics_port, local.connect_metrics_port) == (9404, 9405)


def test_prometheus_scrapes_the_job_spark_the_broker_and_connect(compose):
    from cdc_pipeline.spark_session import session_conf

    service = compose["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", service["image"]), service["image"]
    config_file = Path(next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config.file=")))
    source = bind_mounts(service)[str(config_file.parent)] / config_file.name
    assert source == REPO / "conf" / "prometheus" / "prometheus.yml"
    scrape = {job["job_name"]: job for job in yaml.safe_load(source.read_text())["scrape_configs"]}
    targets = {name: [t for group in job["static_configs"] for t in group["targets"]] for name, job in scrape.items()}
    assert set(targets) == {"cdc-job", "spark-driver", "kafka-broker", "kafka-connect"}, sorted(targets)
    for name, addresses in targets.items():
        for address in addresses:
            host, port = address.rsplit(":", 1)
            assert host in compose["services"], f"{name}: {host} is not a compose service"
            listening = {target for _, _, target in published_ports(compose["services"][host])}
            assert int(port) in listening, f"{name}: {host} does not listen on {port} ({sorted(listening)})"
    spark = env_of(compose, "spark")
    assert targets["cdc-job"] == [f"spark:{spark['CDC_METRICS_PORT']}"] and spark["CDC_METRICS_HOST"] == "0.0.0.0"
    assert targets["spark-driver"] == ["spark:4040"]
    servlet = session_conf(load_config(PIPELINE_YAML, spark), "x")["spark.metrics.conf.*.sink.prometheusServlet.path"]
    assert scrape["spark-driver"]["metrics_path"] == servlet
    assert targets["kafka-broker"] == [f"kafka:{javaagent(compose, 'kafka')['port']}"]
    assert targets["kafka-connect"] == [f"connect:{javaagent(compose, 'connect')['port']}"]


def test_grafana_provisions_prometheus_and_the_dashboard(compose):
    service = compose["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", service["image"]), service["image"]
    mounts = bind_mounts(service)
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == REPO / "conf" / "grafana" / "provisioning"
    [datasource_file] = sorted((provisioning / "datasources").glob("*.yaml"))
    [datasource] = yaml.safe_load(datasource_file.read_text())["datasources"]
    url = urlsplit(datasource["url"])
    assert datasource["type"] == "prometheus" and url.hostname == "prometheus"
    assert url.port in {target for _, _, target in published_ports(compose["services"]["prometheus"])}
    [provider_file] = sorted((provisioning / "dashboards").glob("*.yaml"))
    [provider] = yaml.safe_load(provider_file.read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert dashboards == REPO / "conf" / "grafana" / "dashboards"
    dashboard = json.loads((dashboards / "cdc-pipeline.json").read_text())
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"} == {datasource["uid"]}
    home = Path(env_of(compose, "grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert mounts[str(home.parent)] / home.name == dashboards / "cdc-pipeline.json"
    assert compose["services"]["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
