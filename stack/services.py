"""The five services of the local stack, each with its start command, first-start set-up and health.

Start order is the dependency order; `make down` stops in reverse. A service that is already running
and healthy is left alone, so `make up` on a running stack changes nothing.
"""
from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from . import jars
from .errors import ServiceError
from .process import RecordedProcess, log_tail, wait_until
from .settings import REPO_ROOT, StackSettings

CONF = REPO_ROOT / "conf"
INIT_MARKER = ".cdc-initialized"


def port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str:
    """Best-effort 'pid N: command' of the process listening on a local TCP port, for error messages."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(cols[9])
    for fd_dir in glob.glob("/proc/[0-9]*/fd"):
        try:
            for fd in os.listdir(fd_dir):
                target = os.readlink(f"{fd_dir}/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pid = fd_dir.split("/")[2]
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                    return f"pid {pid}: {cmd}"
        except OSError:
            continue
    return "owner unknown"


class Service:
    name = ""
    executable_hint = ""
    graceful_signal = signal.SIGTERM
    start_timeout = 60.0
    stop_timeout = 30.0
    # A process that exits while starting is started again, this many times in all: right after a
    # full-stack restart a dependency can still be settling.
    start_attempts = 3

    def __init__(self, settings: StackSettings):
        self.s = settings
        self.dir = settings.state_dir / self.name
        self.proc = RecordedProcess(self.name, settings.state_dir / "pids" / f"{self.name}.pid",
                                    settings.state_dir / "logs" / f"{self.name}.log", self.executable_hint)

    # -- to be defined per service -------------------------------------------------------------
    @property
    def port(self) -> int:
        raise NotImplementedError

    def launch(self) -> None:
        raise NotImplementedError

    def health(self) -> bool:
        """True when the service answers its own protocol; raises or returns False otherwise."""
        raise NotImplementedError

    def after_start(self) -> None:
        """Idempotent set-up once healthy (users, databases, buckets, connector)."""

    def details(self) -> list[str]:
        return []

    # -- shared behaviour ----------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.proc.log_file

    def is_healthy(self) -> bool:
        try:
            return bool(self.health())
        except Exception:
            return False

    def start(self) -> str:
        if self.proc.pid() is not None:
            self.wait_healthy()
            self.after_start()
            return "already running"
        # A process killed a moment ago can hold its port briefly; only a port that stays taken is a
        # conflict with something this stack did not start.
        try:
            wait_until(lambda: not port_is_open(self.s.host, self.port), 10, f"port {self.port} to be free",
                       interval=0.2)
        except ServiceError:
            raise ServiceError(f"{self.name}: port {self.port} is in use by a process this stack did not start "
                               f"({port_owner(self.port)}); stop it or set the port's CDC_* variable "
                               f"(see README)") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, self.start_attempts + 1):
            self.launch()
            try:
                self.wait_healthy()
                break
            except ServiceError:
                if attempt == self.start_attempts or self.proc.pid() is not None:
                    raise  # out of attempts, or running but never healthy: a real problem
                time.sleep(2 * attempt)
        self.after_start()
        return "started" if attempt == 1 else f"started (attempt {attempt})"

    def wait_healthy(self) -> None:
        def exited():
            if self.proc.pid() is not None:
                return None
            return f"the process exited ({self.proc.exit_status() or 'exit status unknown'})"

        try:
            wait_until(self.health, self.start_timeout, f"{self.name} (port {self.port})", self.log_file,
                       abort=exited)
        except ServiceError as err:
            raise ServiceError(f"{err}\nlog file: {self.log_file}") from None

    def stop(self) -> str:
        return self.proc.stop(self.graceful_signal, self.stop_timeout)

    def kill(self) -> None:
        self.proc.kill()


class MariaDB(Service):
    name = "mysql"
    executable_hint = "mariadbd"

    @property
    def port(self) -> int:
        return self.s.mysql_port

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_path(self) -> Path:
        return self.dir / "mysqld.sock"

    def launch(self) -> None:
        if not (self.datadir / INIT_MARKER).exists():
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir.mkdir(parents=True)
            run_logged(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"], self.log_file, self.name)
        self.proc.spawn([
            shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults",
            f"--datadir={self.datadir}", f"--socket={self.socket_path}", f"--port={self.port}",
            f"--bind-address={self.s.host}", f"--pid-file={self.dir / 'mariadbd.pid'}", "--user=root",
            "--skip-name-resolve", "--log-bin=mysql-bin", "--binlog-format=ROW", "--binlog-row-image=FULL",
            "--server-id=1", "--default-time-zone=+00:00", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ])

    def _connect(self, **kwargs):
        import pymysql
        return pymysql.connect(host=self.s.host, port=self.port, connect_timeout=3, **kwargs)

    def health(self) -> bool:
        import pymysql
        try:
            self._connect(user=self.s.mysql_user, password=self.s.mysql_password).close()
        except pymysql.err.OperationalError as err:
            if err.args and err.args[0] in (1045, 1044, 1130) and not (self.datadir / INIT_MARKER).exists():
                return True  # up, but the first-start users are not created yet
            raise
        return True

    def after_start(self) -> None:
        if (self.datadir / INIT_MARKER).exists():
            return
        s = self.s
        users = f"""
            ALTER USER 'root'@'localhost' IDENTIFIED BY {mysql_str(s.mysql_root_password)};
            DROP USER IF EXISTS ''@'localhost';
            CREATE USER IF NOT EXISTS {mysql_str(s.mysql_user)}@'%' IDENTIFIED BY {mysql_str(s.mysql_password)};
            GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES
                ON *.* TO {mysql_str(s.mysql_user)}@'%';
        """
        self.mysql_client(users, password="")
        for script in sorted((REPO_ROOT / "mysql-init").glob("*.sql")):
            self.mysql_client(script.read_text(), password=s.mysql_root_password, what=script.name)
        # The application user of seed 000 runs the manual INSERT/UPDATE/DELETE test on bankdb.
        self.mysql_client(f"GRANT ALL PRIVILEGES ON bankdb.* TO {mysql_str(s.mysql_user)}@'%';",
                          password=s.mysql_root_password)
        (self.datadir / INIT_MARKER).write_text("ok\n")

    def mysql_client(self, sql: str, password: str, what: str = "set-up SQL") -> str:
        env = dict(os.environ, MYSQL_PWD=password)
        proc = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket_path}", "-uroot",
                               "--batch", "--skip-column-names"],
                              input=sql, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise ServiceError(f"mysql: {what} failed: {proc.stderr.strip()}")
        return proc.stdout


class PostgreSQL(Service):
    name = "postgres"
    executable_hint = "postgres"
    graceful_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to leave

    @property
    def port(self) -> int:
        return self.s.pg_port

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def bindir(self) -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if not found:
            raise ServiceError("postgres: no server under /usr/lib/postgresql/*/bin; run `make setup`")
        return Path(found[-1]).parent

    @property
    def run_as(self) -> str | None:
        # initdb and postgres refuse to run as root; run them as Debian's postgres user.
        return "postgres" if os.geteuid() == 0 else None

    def launch(self) -> None:
        if not (self.datadir / INIT_MARKER).exists():
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir.mkdir(parents=True)
            pwfile = self.dir / ".pwfile"
            pwfile.write_text(self.s.pg_admin_password + "\n")
            if self.run_as:
                shutil.chown(self.datadir, self.run_as, self.run_as)
                shutil.chown(pwfile, self.run_as, self.run_as)
            pwfile.chmod(0o600)
            try:
                run_logged([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.s.pg_admin_user,
                            f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                            "--encoding=UTF8", "--locale=C.UTF-8"], self.log_file, self.name, user=self.run_as)
            finally:
                pwfile.unlink(missing_ok=True)
            with open(self.datadir / "postgresql.conf", "a") as conf:
                conf.write("\n# cdc-pipeline local stack\nunix_socket_directories = ''\n"
                           "max_connections = 200\nshared_buffers = 256MB\n")
        self.proc.spawn([str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                         "-c", f"listen_addresses={self.s.host}"], user=self.run_as)

    def admin(self) -> tuple[str, str]:
        """The administrator's user and password: the superuser initdb created. A data directory set up
        before the pipeline had a role of its own has the pipeline's user as its superuser."""
        marker = self.datadir / INIT_MARKER
        if marker.exists() and "admin=" not in marker.read_text():
            return self.s.pg_user, self.s.pg_password
        return self.s.pg_admin_user, self.s.pg_admin_password

    def connect(self, database: str | None = None):
        import psycopg2
        user, password = self.admin()
        return psycopg2.connect(host=self.s.host, port=self.port, user=user, password=password,
                                dbname=database or "postgres", connect_timeout=3)

    def health(self) -> bool:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.close()
        return True

    def after_start(self) -> None:
        if (self.datadir / INIT_MARKER).exists():
            return
        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.s.pg_database,))
            if cur.fetchone() is None:  # as the postgres image makes POSTGRES_DB; 00-roles.sql does the rest
                cur.execute(f"CREATE DATABASE {sql_ident(self.s.pg_database)}")
        conn.close()
        # The scripts read the pipeline's role, its password and the catalog database from the environment.
        env = dict(os.environ, **self.s.env(), PGPASSWORD=self.s.pg_admin_password)
        for script in sorted((REPO_ROOT / "postgres-dw-init").glob("*.sql")):
            proc = subprocess.run([str(self.bindir / "psql"), "-h", self.s.host, "-p", str(self.port),
                                   "-U", self.s.pg_admin_user, "-d", self.s.pg_database, "-v", "ON_ERROR_STOP=1",
                                   "-q", "-f", str(script)], capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise ServiceError(f"postgres: {script.name} failed: {proc.stderr.strip()}")
        (self.datadir / INIT_MARKER).write_text(f"ok\nadmin={self.s.pg_admin_user}\n")


class SeaweedFS(Service):
    """The lakehouse's S3 server (Iceberg warehouse bucket)."""
    name = "seaweedfs"
    executable_hint = "weed"
    start_timeout = 90.0

    @property
    def port(self) -> int:
        return self.s.s3_port

    def launch(self) -> None:
        s = self.s
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "cdc",
            "credentials": [{"accessKey": s.s3_access_key, "secretKey": s.s3_secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}, indent=2))
        config.chmod(0o600)
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        weed = jars.set_dir("bin") / "weed"
        if not weed.exists():
            raise ServiceError(f"{self.name}: {weed} is missing; run `make jars`")
        # Each gRPC port is the port + 10000.
        master, volume, filer = s.seaweed_master_port, s.seaweed_volume_port, s.seaweed_filer_port
        self.proc.spawn([
            str(weed), "server", f"-ip={s.host}", f"-ip.bind={s.host}", f"-dir={data}",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={self.port + 10000}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=20", "-master.volumeSizeLimitMB=512",
            "-master.telemetry=false",
        ], cwd=self.dir)

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.s.s3_endpoint, aws_access_key_id=self.s.s3_access_key,
                            aws_secret_access_key=self.s.s3_secret_key, region_name=self.s.s3_region,
                            config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=10,
                                          retries={"max_attempts": 1}))

    def health(self) -> bool:
        self.client().list_buckets()
        return True

    def after_start(self) -> None:
        client = self.client()

        def buckets_ready():
            bucket = self.s.lake_bucket
            if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                client.create_bucket(Bucket=bucket)
            # A write proves the volume server is up, not just the S3 gateway.
            client.put_object(Bucket=bucket, Key=".cdc-healthcheck", Body=b"ok")
            return True

        wait_until(buckets_ready, 60, f"{self.name} buckets", self.log_file)

    def details(self) -> list[str]:
        return [f"bucket: {self.s.lake_bucket} (Iceberg warehouse)"]


def jmx_agent_option(host: str, port: int, rules: Path, service_name: str) -> str:
    """-javaagent: of the Prometheus JMX exporter (jars/agents), serving the MBeans `rules` selects on
    http://<host>:<port>/metrics; the agent's `host:port:config` form binds that address only."""
    try:
        wait_until(lambda: not port_is_open(host, port), 10, f"port {port} to be free", interval=0.2)
    except ServiceError:
        raise ServiceError(f"{service_name}: metrics port {port} is in use by a process this stack did not start "
                           f"({port_owner(port)}); stop it or set the port's CDC_* variable (see README)") from None
    return f"-javaagent:{jars.jmx_agent_jar()}={host}:{port}:{rules}"


class KafkaBroker(Service):
    """Apache Kafka in KRaft mode, one node that is broker and controller, log under <state>/kafka/data."""
    name = "kafka"
    executable_hint = "kafka.Kafka"
    start_timeout = 90.0

    @property
    def port(self) -> int:
        return self.s.kafka_port

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def server_properties(self) -> str:
        s = self.s
        return "\n".join([
            "# Written by `make up` (stack/services.py) on every start; edit the code, not this file.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{s.host}:{s.kafka_controller_port}",
            f"listeners=PLAINTEXT://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://{s.host}:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data_dir}",
            # One node: every internal topic with one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "num.partitions=3",
            "group.initial.rebalance.delay.ms=0",
            # The change log is the source of replays (a new checkpoint, `make verify`): keep it. Users
            # with a retention policy set it per topic; the job fails on a gap (failOnDataLoss).
            "log.retention.ms=-1",
            "",
        ])

    def launch(self) -> None:
        classpath = jars.set_dir("kafka")
        if not any(classpath.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"kafka: no Apache Kafka jars in {classpath}; run `make jars`")
        props = self.dir / "server.properties"
        props.write_text(self.server_properties())
        java = ["java", "-cp", f"{classpath}/*", f"-Dlog4j2.configurationFile={CONF / 'kafka-log4j2.properties'}"]
        if not (self.data_dir / "meta.properties").exists():
            # A new log directory is formatted once with a new cluster id (`kafka-storage.sh format`).
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            run_logged([*java, "kafka.tools.StorageTool", "format", "--config", str(props),
                        "--cluster-id", cluster_id], self.log_file, self.name)
        heap = os.environ.get("CDC_KAFKA_HEAP", "512m")
        agent = jmx_agent_option(self.s.host, self.s.kafka_metrics_port, CONF / "jmx" / "kafka-broker.yaml", self.name)
        self.proc.spawn([java[0], f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true", agent,
                         *java[1:], "kafka.Kafka", str(props)], cwd=self.dir)

    def health(self) -> bool:
        from confluent_kafka.admin import AdminClient
        # log_level 0: a refused connection while the broker starts is expected, not worth printing.
        admin = AdminClient({"bootstrap.servers": self.s.kafka_bootstrap, "socket.timeout.ms": 3000,
                             "log_level": 0})
        return bool(admin.list_topics(timeout=3).brokers)

    def details(self) -> list[str]:
        return [f"metrics: {self.s.kafka_metrics_url} (JMX exporter, conf/jmx/kafka-broker.yaml)"]


class KafkaConnect(Service):
    """Kafka Connect (distributed mode, one worker) with Debezium from jars/connect-plugins on its
    plugin.path; registers the connector of `connector_file` (the local MariaDB's by default)."""
    name = "connect"
    executable_hint = "ConnectDistributed"
    start_timeout = 120.0

    def __init__(self, settings: StackSettings, connector_file: Path = CONF / "debezium-mariadb-connector.json"):
        super().__init__(settings)
        self.connector_file = connector_file

    @property
    def port(self) -> int:
        return self.s.connect_port

    def connector_spec(self) -> dict:
        return json.loads(self.connector_file.read_text())

    @property
    def connector_name(self) -> str:
        return self.connector_spec()["name"]

    def launch(self) -> None:
        classpath = jars.set_dir("kafka")
        if not any(classpath.glob("connect-runtime-*.jar")):
            raise ServiceError(f"connect: no Kafka Connect jars in {classpath}; run `make jars`")
        if not any(jars.CONNECT_PLUGINS.glob("*/debezium-connector-*.jar")):
            raise ServiceError(f"connect: no Debezium connector in {jars.CONNECT_PLUGINS}; run `make jars`")
        # The worker file as users keep it (conf/), plus where this checkout keeps the plugins.
        worker = self.dir / "connect-distributed.properties"
        worker.write_text((CONF / "connect-distributed.properties").read_text()
                          + f"\n# added by `make up`\nplugin.path={jars.CONNECT_PLUGINS}\n")
        env = dict(os.environ, **self.s.env(),
                   CDC_CONNECT_HOST=self.s.host,
                   CDC_DEBEZIUM_HISTORY_FILE=str(self.dir / "schema-history.dat"))
        heap = os.environ.get("CDC_CONNECT_HEAP", "768m")
        agent = jmx_agent_option(self.s.host, self.s.connect_metrics_port, CONF / "jmx" / "kafka-connect.yaml",
                                 self.name)
        self.proc.spawn([
            "java", "-Xms256m", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true", agent,
            f"-Dlog4j2.configurationFile={CONF / 'kafka-log4j2.properties'}",
            "-cp", f"{classpath}/*", "org.apache.kafka.connect.cli.ConnectDistributed", str(worker),
        ], env=env, cwd=self.dir)

    def rest(self, method: str, path: str, body: dict | None = None, timeout: float = 10):
        import requests
        return requests.request(method, self.s.connect_url + path, json=body, timeout=timeout)

    def health(self) -> bool:
        return self.rest("GET", "/").status_code == 200

    def connector_status(self) -> dict | None:
        resp = self.rest("GET", f"/connectors/{self.connector_name}/status")
        return resp.json() if resp.status_code == 200 else None

    def connector_running(self) -> bool:
        status = self.connector_status()
        if not status:
            return False
        tasks = status.get("tasks", [])
        for item in [status["connector"], *tasks]:
            if item.get("state") == "FAILED":
                raise ServiceError(f"connector {self.connector_name} FAILED: "
                                   f"{(item.get('trace') or '')[:2000]}")
        return status["connector"]["state"] == "RUNNING" and bool(tasks) and all(
            t["state"] == "RUNNING" for t in tasks)

    def after_start(self) -> None:
        spec = self.connector_spec()
        name, config = spec["name"], spec["config"]

        def register():
            current = self.rest("GET", f"/connectors/{name}/config")
            if current.status_code == 200 and {k: v for k, v in current.json().items() if k != "name"} == config:
                return True
            resp = self.rest("PUT", f"/connectors/{name}/config", config, timeout=30)
            if resp.status_code not in (200, 201):
                raise ServiceError(f"registering {name}: HTTP {resp.status_code} {resp.text[:500]}")
            return True

        # Right after start the worker may still be joining its group (409 / rebalance): retry.
        wait_until(register, 60, f"connector {name} registration", self.log_file, interval=1)
        wait_until(self.connector_running, 90, f"connector {name} RUNNING", self.log_file, interval=1)

    def details(self) -> list[str]:
        return [f"metrics: {self.s.connect_metrics_url} (JMX exporter, conf/jmx/kafka-connect.yaml)",
                *self.connector_details()]

    def connector_details(self) -> list[str]:
        try:
            status = self.connector_status()
        except Exception as err:
            return [f"connector {self.connector_name}: unknown ({err.__class__.__name__})"]
        if not status:
            return [f"connector {self.connector_name}: not registered"]
        lines = [f"connector {self.connector_name}: {status['connector']['state']}"]
        for task in status.get("tasks", []):
            lines.append(f"  task {task['id']}: {task['state']}"
                         + (f" — {task.get('trace', '').splitlines()[0]}" if task.get("trace") else ""))
        return lines


SERVICE_CLASSES = [MariaDB, PostgreSQL, SeaweedFS, KafkaBroker, KafkaConnect]


def all_services(settings: StackSettings) -> list[Service]:
    return [cls(settings) for cls in SERVICE_CLASSES]


def service(settings: StackSettings, name: str) -> Service:
    for svc in all_services(settings):
        if svc.name == name:
            return svc
    raise ServiceError(f"unknown service {name!r}; known: {', '.join(c.name for c in SERVICE_CLASSES)}")


def run_logged(argv: list[str], log_file: Path, name: str, user: str | None = None) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"user": user, "group": user, "extra_groups": []} if user else {}
    with open(log_file, "ab") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
    if proc.returncode != 0:
        raise ServiceError(f"{name}: {' '.join(argv[:2])} failed (exit {proc.returncode})\n"
                           f"--- last lines of {log_file} ---\n{log_tail(log_file)}")


def mysql_str(value: str) -> str:
    """A MySQL string literal with backslashes escaped (set-up values come from the environment)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
