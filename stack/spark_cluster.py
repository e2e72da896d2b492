"""`make cluster-up` / `make cluster-down`: a Spark standalone cluster on this machine.

One Master and one Worker, started from the venv's pyspark installation with its `bin/spark-class`
(pyspark's `sbin/` has no start-master.sh / start-worker.sh). Both are recorded processes like the
stack's services (PID and log files in the state directory) and bind to the loopback address only.
`make submit MASTER=spark://127.0.0.1:7077` then runs the job's executors on the worker; the driver
stays on this machine (client mode).
"""
from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

from .errors import ServiceError
from .process import is_alive
from .services import Service, port_is_open, port_owner
from .settings import StackSettings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
# Spark's memory strings as the worker's --memory takes them: 2g, 1536m.
MEMORY_SIZE = re.compile(r"^[1-9][0-9]*[mMgG]$")
# Every JVM in UTC, as cdc_pipeline.spark_session.JAVA_OPTIONS does for the driver and executors.
DAEMON_JAVA_OPTIONS = "-Duser.timezone=UTC -Dspark.port.maxRetries=0"
WORKER_CLEANUP = "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=86400"


def spark_class() -> Path:
    path = Path(sys.executable).parent / "spark-class"
    if not path.exists():
        raise ServiceError(f"{path} is missing: pyspark is not installed in this venv; run `make venv`")
    return path


def get_json(url: str, timeout: float = 5) -> dict:
    import requests
    resp = requests.get(url, timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class SparkDaemon(Service):
    """A Spark standalone daemon run with `spark-class <class> ...`; the JVM keeps the spawned PID."""

    daemon_class = ""
    start_timeout = 90.0

    @property
    def ui_port(self) -> int:
        raise NotImplementedError

    @property
    def ui_url(self) -> str:
        return f"http://{self.s.host}:{self.ui_port}"

    def require_free(self, port: int) -> None:
        # Spark would otherwise move a taken UI port to the next free one (spark.port.maxRetries).
        if port_is_open(self.s.host, port):
            raise ServiceError(f"{self.name}: port {port} is in use by a process this stack did not start "
                               f"({port_owner(port)}); stop it or set its CDC_SPARK_* variable (see README)")

    def daemon_env(self) -> dict[str, str]:
        opts = f"{os.environ.get('SPARK_DAEMON_JAVA_OPTS', '')} {DAEMON_JAVA_OPTIONS}".strip()
        return dict(os.environ, **self.s.env(),
                    SPARK_LOCAL_IP=self.s.host,        # the RPC endpoints and web UIs bind to loopback
                    SPARK_MASTER_HOST=self.s.host,
                    SPARK_DAEMON_MEMORY=os.environ.get("SPARK_DAEMON_MEMORY", "512m"),
                    SPARK_DAEMON_JAVA_OPTS=opts,
                    # Each application copies its jars into the worker's work dir: drop those of
                    # applications that ended more than a day ago.
                    SPARK_WORKER_OPTS=f"{os.environ.get('SPARK_WORKER_OPTS', '')} {WORKER_CLEANUP}".strip(),
                    SPARK_LOCAL_DIRS=str(self.dir / "tmp"),
                    # Inherited by the executors the worker starts (Python workers: the venv, in UTC).
                    PYSPARK_PYTHON=sys.executable, TZ="UTC")

    def spawn_daemon(self, args: list[str]) -> None:
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.proc.spawn([str(spark_class()), self.daemon_class, *args], env=self.daemon_env(), cwd=self.dir)


class SparkMaster(SparkDaemon):
    name = "spark-master"
    daemon_class = MASTER_CLASS
    executable_hint = MASTER_CLASS

    @property
    def port(self) -> int:
        return self.s.spark_master_port

    @property
    def ui_port(self) -> int:
        return self.s.spark_master_ui_port

    def launch(self) -> None:
        self.require_free(self.ui_port)
        self.spawn_daemon(["--host", self.s.host, "--port", str(self.port), "--webui-port", str(self.ui_port)])

    def state(self) -> dict:
        """The master's JSON: workers, active applications, status."""
        return get_json(f"{self.ui_url}/json/")

    def health(self) -> bool:
        return self.state().get("status") == "ALIVE" and port_is_open(self.s.host, self.port)

    def details(self) -> list[str]:
        try:
            state = self.state()
        except Exception as err:
            return [f"UI {self.ui_url}: unreachable ({err.__class__.__name__})"]
        lines = [f"{self.s.spark_master_url}, UI {self.ui_url}; workers alive: {state.get('aliveworkers', 0)}"]
        for app in state.get("activeapps", []):
            lines.append(f"app {app['id']} {app['name']!r}: {app['state']}, {app.get('cores', 0)} core(s)")
        return lines


class SparkWorker(SparkDaemon):
    name = "spark-worker"
    daemon_class = WORKER_CLASS
    executable_hint = WORKER_CLASS

    @property
    def port(self) -> int:
        return self.s.spark_worker_ui_port

    @property
    def ui_port(self) -> int:
        return self.s.spark_worker_ui_port

    def launch(self) -> None:
        if self.s.spark_worker_cores < 1:
            raise ServiceError(f"CDC_SPARK_WORKER_CORES must be at least 1, got {self.s.spark_worker_cores}")
        if not MEMORY_SIZE.match(self.s.spark_worker_memory):
            raise ServiceError(f"CDC_SPARK_WORKER_MEMORY must look like 2g or 1536m, "
                               f"got {self.s.spark_worker_memory!r}")
        self.spawn_daemon([self.s.spark_master_url, "--host", self.s.host, "--webui-port", str(self.ui_port),
                           "--cores", str(self.s.spark_worker_cores), "--memory", self.s.spark_worker_memory,
                           "--work-dir", str(self.dir / "work")])

    def state(self) -> dict:
        """The worker's JSON: id, cores, memory, executors (with their application id)."""
        return get_json(f"{self.ui_url}/json/")

    def health(self) -> bool:
        """Up, and registered with our master as ALIVE."""
        worker_id = self.state()["id"]
        master = SparkMaster(self.s).state()
        return any(w["id"] == worker_id and w["state"] == "ALIVE" for w in master.get("workers", []))

    def details(self) -> list[str]:
        try:
            state = self.state()
        except Exception as err:
            return [f"UI {self.ui_url}: unreachable ({err.__class__.__name__})"]
        lines = [f"UI {self.ui_url}; cores {state['cores']} (used {state['coresused']}), "
                 f"memory {state['memory']} MB (used {state['memoryused']} MB)"]
        for ex in state.get("executors", []):
            lines.append(f"executor {ex['appid']}/{ex['id']}: {ex.get('memory', '?')} MB")
        return lines

    def stop(self) -> str:
        """Stop the worker; executors it started and that outlive it are stopped too (by PID)."""
        pid = self.proc.pid()
        executors = [c for c in _children(pid) if EXECUTOR_CLASS in _cmdline(c)] if pid else []
        result = super().stop()
        left = [e for e in executors if is_alive(e) and EXECUTOR_CLASS in _cmdline(e)]
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            if not left:
                break
            for e in left:
                os.kill(e, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(is_alive(e) for e in left):
                time.sleep(0.2)
            left = [e for e in left if is_alive(e)]
        if left:
            raise ServiceError(f"spark-worker: executor PIDs {left} survived SIGKILL")
        return result


def executor_conf(settings: StackSettings, master: str) -> dict[str, str]:
    """spark-submit settings for masters whose executors are separate processes (empty for local[*]).

    Executors run in UTC (JVM options come from spark_session; TZ here is for their Python workers) and
    each asks for CDC_SPARK_EXECUTOR_MEMORY, which must fit the worker's memory or the application
    never gets an executor. The Python interpreter is the driver's PYSPARK_PYTHON (the venv's). A
    spark:// master that does not answer is reported at once (spark-submit would retry for a minute).
    """
    if master.startswith("local"):
        return {}
    conf = {"spark.executorEnv.TZ": "UTC"}
    if master.startswith("spark://"):
        addresses = [a.rpartition(":") for a in master[len("spark://"):].rstrip("/").split(",")]  # HA: a,b
        if not any(port.isdigit() and port_is_open(host, int(port)) for host, _, port in addresses):
            raise ServiceError(f"no Spark master answers at {master} "
                               f"(`make cluster-up` starts the local one at {settings.spark_master_url})")
        if not MEMORY_SIZE.match(settings.spark_executor_memory):
            raise ServiceError(f"CDC_SPARK_EXECUTOR_MEMORY must look like 1g or 1536m, "
                               f"got {settings.spark_executor_memory!r}")
        conf["spark.executor.memory"] = settings.spark_executor_memory
    return conf


def cluster_services(settings: StackSettings) -> list[SparkDaemon]:
    """In start order: the master, then the worker that registers with it."""
    return [SparkMaster(settings), SparkWorker(settings)]


def is_running(settings: StackSettings) -> bool:
    return any(svc.proc.pid() is not None for svc in cluster_services(settings))


def up(settings: StackSettings, echo=print) -> None:
    for svc in cluster_services(settings):
        echo(f"{svc.name:<12} ...", end=" ", flush=True)
        echo(svc.start(), flush=True)
    echo(f"Spark standalone cluster is up: `make submit MASTER={settings.spark_master_url}`; "
         f"master UI {settings.spark_master_ui_url}, worker UI {settings.spark_worker_ui_url}")


def job_master(settings: StackSettings) -> str | None:
    """The --master of the running streaming job (None when no job runs)."""
    from . import job
    pid = job.job_process(settings).pid()
    if pid is None:
        return None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    return argv[argv.index("--master") + 1] if "--master" in argv[:-1] else None


def down(settings: StackSettings, echo=print) -> None:
    """Stop the job if it runs on this cluster (it would wait for executors forever), then the
    worker (with its executors) and the master."""
    from . import job
    if job_master(settings) == settings.spark_master_url:
        echo(f"{'cdc-stream':<12} {job.stop(settings)}", flush=True)
    for svc in reversed(cluster_services(settings)):
        echo(f"{svc.name:<12} {svc.stop()}", flush=True)
