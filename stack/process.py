"""Start, find and stop one recorded process: a PID file and a log file per service."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cdc_pipeline.logs import json_line

from .errors import ServiceError
from .settings import REPO_ROOT


def _state_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaping our own children on the way)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    state = _state_of(pid)
    return state is not None and state not in ("Z", "X")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file yet)"
    return "\n".join(text[-lines:])


class RecordedProcess:
    """A process whose PID lives in a file, so `make down` stops exactly what `make up` started."""

    def __init__(self, name: str, pid_file: Path, log_file: Path, executable_hint: str):
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file
        # A word that must appear in /proc/<pid>/cmdline: protects against a recycled PID.
        self.executable_hint = executable_hint

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        spawned = getattr(self, "last_spawned", None)
        if spawned is not None and spawned.pid == pid:
            # Our own child: ask it directly. Between fork and exec its cmdline is still ours, so the
            # name check below would call a starting process dead.
            return pid if spawned.poll() is None else None
        if not is_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except FileNotFoundError:
            return None
        return pid if self.executable_hint in cmdline else None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              user: str | None = None, json_log: bool = False) -> int:
        """Start `argv` in its own session, output to the log file: appended as it comes, or with
        `json_log` through the log pipe (stack/logpipe.py: JSON per line, rotated by size)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {}
        if user is not None:
            kwargs.update(user=user, group=user, extra_groups=[])
        if json_log:
            with open(self.log_file, "a", encoding="utf-8") as log:
                log.write(json_line(f"starting {self.name}", "stack", event="process_start", argv=argv) + "\n")
            pipe = subprocess.Popen([sys.executable, "-m", "stack.logpipe", str(self.log_file)],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                                    start_new_session=True)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=pipe.stdin, stderr=subprocess.STDOUT,
                                        env=env, cwd=cwd, start_new_session=True, **kwargs)
            finally:
                pipe.stdin.close()
        else:
            with open(self.log_file, "ab") as log:
                log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
                log.flush()
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        env=env, cwd=cwd, start_new_session=True, **kwargs)
        self.pid_file.write_text(f"{proc.pid}\n")
        self.last_spawned = proc
        return proc.pid

    def exit_status(self) -> str:
        """How the process spawned last by this object ended ('' while it runs or if unknown)."""
        proc = getattr(self, "last_spawned", None)
        if proc is None or proc.poll() is None:
            return ""
        return f"exit code {proc.returncode}"

    def stop(self, graceful: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Signal gracefully, then SIGKILL after `timeout` seconds; returns what happened."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.kill(pid, graceful)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not is_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                return "stopped"
            time.sleep(0.2)
        self._sigkill(pid)
        return f"killed after {timeout:.0f}s"

    def kill(self) -> None:
        """SIGKILL without a graceful phase: what a crash looks like (used by tests)."""
        pid = self.pid()
        if pid is None:
            raise ServiceError(f"{self.name}: not running (no live process recorded in {self.pid_file})")
        self._sigkill(pid)

    def _sigkill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and is_alive(pid):
            time.sleep(0.05)
        if is_alive(pid):
            raise ServiceError(f"{self.name}: PID {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)


def wait_until(check, timeout: float, what: str, log_file: Path | None = None, interval: float = 0.5,
               abort=None):
    """Poll `check()` until it returns a truthy value; on timeout raise with the last error and log tail.

    `abort()` returning a message stops the wait at once (a process that died will not get ready).
    """
    deadline = time.monotonic() + timeout
    last_error: object = None
    while True:
        reason = abort() if abort is not None else None
        if reason:
            msg = f"{what}: {reason}"
            if log_file is not None:
                msg += f"\n--- last lines of {log_file} ---\n{log_tail(log_file)}"
            raise ServiceError(msg)
        try:
            result = check()
            if result:
                return result
            last_error = result
        except Exception as err:  # the check's own failure is the diagnosis we report
            last_error = err
        if time.monotonic() >= deadline:
            msg = f"{what} not ready after {timeout:.0f}s (last check: {last_error!r})"
            if log_file is not None:
                msg += f"\n--- last lines of {log_file} ---\n{log_tail(log_file)}"
            raise ServiceError(msg)
        time.sleep(interval)
