"""`make submit` / `make stop`: run the streaming job with spark-submit in the background, stop it
gracefully. The job is recorded like a service (PID file, log file) in the state directory."""
from __future__ import annotations

import os
import signal
import sys
import time
import zipfile
from pathlib import Path

from .errors import ServiceError
from .process import RecordedProcess, is_alive, log_tail, wait_until
from .settings import REPO_ROOT, StackSettings

JOB_SCRIPT = REPO_ROOT / "jobs" / "cdc_stream.py"
PACKAGE = REPO_ROOT / "cdc_pipeline"


def job_process(settings: StackSettings) -> RecordedProcess:
    return RecordedProcess("cdc-stream", settings.state_dir / "pids" / "cdc-stream.pid",
                           settings.state_dir / "logs" / "cdc-stream.log", JOB_SCRIPT.name)


def build_py_files(settings: StackSettings) -> Path:
    """Zip the package for --py-files, so executors on other machines import the same code."""
    out = settings.state_dir / "dist" / "cdc_pipeline.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE.rglob("*.py")):
            zf.write(path, path.relative_to(REPO_ROOT))
    return out


def submit_argv(settings: StackSettings, master: str, config_path: Path) -> list[str]:
    sys.path.insert(0, str(REPO_ROOT))
    from cdc_pipeline.config import load_config
    from cdc_pipeline.spark_session import session_conf

    config = load_config(config_path, {**os.environ, **settings.env()})
    argv = [str(Path(sys.executable).parent / "spark-submit"), "--master", master,
            "--py-files", str(build_py_files(settings))]
    for key, value in session_conf(config, config.job.query_name).items():
        argv += ["--conf", f"{key}={value}"]
    return argv + [str(JOB_SCRIPT), "--config", str(config_path)]


def submit(settings: StackSettings, master: str, config_path: Path) -> str:
    proc = job_process(settings)
    if proc.pid() is not None:
        return f"already running (PID {proc.pid()}); `make stop` first"
    env = dict(os.environ, **settings.env(), SPARK_LOCAL_IP=settings.host, PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    start = proc.log_file.stat().st_size if proc.log_file.exists() else 0
    proc.spawn(submit_argv(settings, master, config_path), env=env, cwd=REPO_ROOT)

    def started():
        with open(proc.log_file, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
        return "cdc_query_started" in text

    try:
        wait_until(started, 180, "streaming query start", proc.log_file, interval=1,
                   abort=lambda: None if proc.pid() is not None else "spark-submit exited")
    except ServiceError as err:
        raise ServiceError(f"{err}\nlog file: {proc.log_file}") from None
    return f"running (PID {proc.pid()}); Spark UI http://{settings.host}:4040/StreamingQuery/ ; log {proc.log_file}"


def _python_driver_of(jvm_pid: int) -> int | None:
    """spark-submit runs the Python driver as a child of its JVM; the graceful stop signals Python."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == jvm_pid and JOB_SCRIPT.name.encode() in cmdline:
            return int(stat.parent.name)
    return None


def stop(settings: StackSettings, timeout: float = 180) -> str:
    proc = job_process(settings)
    jvm = proc.pid()
    if jvm is None:
        return "not running"
    driver = _python_driver_of(jvm)
    if driver is not None:
        os.kill(driver, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and is_alive(jvm):
            time.sleep(0.5)
    if is_alive(jvm):
        return proc.stop(signal.SIGTERM, 30) + " (forced)"
    proc.pid_file.unlink(missing_ok=True)
    return "stopped"


def tail(settings: StackSettings) -> str:
    return log_tail(job_process(settings).log_file)
