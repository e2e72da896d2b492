"""`make submit` / `make stop` / `make compact*`: run our Spark applications with spark-submit.

The streaming job and the scheduled compaction run in the background, recorded like a service (PID
file, log file) in the state directory, and stop gracefully: spark-submit runs the Python driver as a
child of its JVM, and the driver is the one that gets SIGTERM. `make compact` runs in the foreground.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ServiceError
from .process import RecordedProcess, is_alive, log_tail, wait_until
from .settings import REPO_ROOT, StackSettings
from .spark_cluster import executor_conf

PACKAGE = REPO_ROOT / "cdc_pipeline"


@dataclass(frozen=True)
class SparkApp:
    name: str  # PID and log file name
    script: Path
    ready_marker: str  # what the driver logs once it runs (background start waits for it)
    args: tuple[str, ...] = ()


STREAM = SparkApp("cdc-stream", REPO_ROOT / "jobs" / "cdc_stream.py", "cdc_query_started")
COMPACTION = SparkApp("cdc-compact", REPO_ROOT / "jobs" / "compact.py", "cdc_maintenance_scheduled", ("--schedule",))


def app_process(settings: StackSettings, app: SparkApp) -> RecordedProcess:
    return RecordedProcess(app.name, settings.state_dir / "pids" / f"{app.name}.pid",
                           settings.state_dir / "logs" / f"{app.name}.log", app.script.name)


def job_process(settings: StackSettings) -> RecordedProcess:
    return app_process(settings, STREAM)


def build_py_files(settings: StackSettings) -> Path:
    """Zip the package for --py-files, so executors on other machines import the same code."""
    out = settings.state_dir / "dist" / "cdc_pipeline.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE.rglob("*.py")):
            zf.write(path, path.relative_to(REPO_ROOT))
    return out


def load_pipeline_config(settings: StackSettings, config_path: Path):
    """The pipeline config as the job will see it (the stack's CDC_* settings in its environment)."""
    sys.path.insert(0, str(REPO_ROOT))
    from cdc_pipeline.config_loader import load_config
    return load_config(config_path, {**os.environ, **settings.env()})


# Spark's own spark.redaction.regex, plus Iceberg's dashed names (s3.secret-access-key, s3.access-key-id).
SECRET_CONF = re.compile(r"(?i)secret|password|token|access[.-]?key")


def secrets_file(settings: StackSettings, app: SparkApp) -> Path:
    return settings.state_dir / "run" / f"{app.name}.secrets.properties"


def _properties_value(value: str) -> str:
    """A value in java.util.Properties syntax (Spark reads the file as UTF-8)."""
    text = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + text if text[:1] in (" ", "\t", "\f") else text


def write_secrets_file(path: Path, conf: dict[str, str]) -> Path:
    """The secret settings, readable by this user only (0600), for spark-submit --properties-file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(f"{key}={_properties_value(value)}\n" for key, value in conf.items())
    return path


def submit_argv(settings: StackSettings, master: str, config_path: Path, app: SparkApp = STREAM,
                args: tuple[str, ...] | None = None) -> list[str]:
    """spark-submit's command line. Passwords and keys are not on it (any user's `ps` shows a command
    line): they go to a 0600 properties file in the state directory (`--properties-file`)."""
    from cdc_pipeline.spark_session import session_conf

    config = load_pipeline_config(settings, config_path)
    app_name = config.job.query_name if app is STREAM else app.name
    conf = {**session_conf(config, app_name), **executor_conf(settings, master)}
    secret = {key: value for key, value in conf.items() if SECRET_CONF.search(key)}
    argv = [str(Path(sys.executable).parent / "spark-submit"), "--master", master,
            "--py-files", str(build_py_files(settings)),
            "--properties-file", str(write_secrets_file(secrets_file(settings, app), secret))]
    for key, value in conf.items():
        if key not in secret:
            argv += ["--conf", f"{key}={value}"]
    return argv + [str(app.script), "--config", str(config_path), *(app.args if args is None else args)]


def _spark_env(settings: StackSettings) -> dict[str, str]:
    return dict(os.environ, **settings.env(), SPARK_LOCAL_IP=settings.host, PYSPARK_PYTHON=sys.executable,
                PYSPARK_DRIVER_PYTHON=sys.executable)


def submit(settings: StackSettings, master: str, config_path: Path, app: SparkApp = STREAM) -> str:
    """Start `app` in the background and wait until its driver says it runs."""
    proc = app_process(settings, app)
    if proc.pid() is not None:
        return f"already running (PID {proc.pid()}); stop it first"
    start = proc.log_file.stat().st_size if proc.log_file.exists() else 0
    proc.spawn(submit_argv(settings, master, config_path, app), env=_spark_env(settings), cwd=REPO_ROOT, json_log=True)

    def started():
        with open(proc.log_file, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
        return app.ready_marker in text

    try:
        wait_until(started, 180, f"{app.name} start", proc.log_file, interval=1,
                   abort=lambda: None if proc.pid() is not None else "spark-submit exited")
    except ServiceError as err:
        raise ServiceError(f"{err}\nlog file: {proc.log_file}") from None
    if app is STREAM:
        return f"running (PID {proc.pid()}); Spark UI {_spark_ui(settings, config_path)}/StreamingQuery/ ; log {proc.log_file}"
    return f"running (PID {proc.pid()}); log {proc.log_file}"


def _spark_ui(settings: StackSettings, config_path: Path) -> str:
    """The UI address the job wrote to its status file (4041, … when 4040 was taken), as `make status`
    reads it."""
    from .status import job_section  # status imports this module

    ui = job_section(settings, load_pipeline_config(settings, config_path))["spark_ui"]
    return (ui or f"http://{settings.host}:4040").rstrip("/")


def run_foreground(settings: StackSettings, master: str, config_path: Path, app: SparkApp,
                   args: tuple[str, ...] = ()) -> int:
    """Run `app` to completion with the output on this terminal; its exit code."""
    return subprocess.run(submit_argv(settings, master, config_path, app, args), env=_spark_env(settings),
                          cwd=REPO_ROOT, check=False).returncode


def _python_driver_of(jvm_pid: int, script: Path) -> int | None:
    """spark-submit runs the Python driver as a child of its JVM; the graceful stop signals Python."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == jvm_pid and script.name.encode() in cmdline:
            return int(stat.parent.name)
    return None


def stop(settings: StackSettings, timeout: float = 180, app: SparkApp = STREAM) -> str:
    proc = app_process(settings, app)
    jvm = proc.pid()
    if jvm is None:
        return "not running"
    driver = _python_driver_of(jvm, app.script)
    if driver is not None:
        os.kill(driver, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and is_alive(jvm):
            time.sleep(0.5)
    if is_alive(jvm):
        return proc.stop(signal.SIGTERM, 30) + " (forced)"
    proc.pid_file.unlink(missing_ok=True)
    return "stopped"


def tail(settings: StackSettings, app: SparkApp = STREAM) -> str:
    return log_tail(app_process(settings, app).log_file)
