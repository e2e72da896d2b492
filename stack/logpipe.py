"""Log files of the stack, JSON per line, rotated by size; `python -m stack.logpipe FILE` stores a
process's output (stdin) that way.

The launcher puts it between a Spark application and its log file: lines that are JSON objects (the
job's records, its JVM's log4j lines) pass as they are, any other line is wrapped as one
(cdc_pipeline.logs.wrap_line). The file rotates at CDC_LOG_MAX_BYTES (default 50 MB) keeping
CDC_LOG_BACKUPS (default 5) old files, FILE.1 the newest. It ignores SIGINT/SIGTERM and ends at the
end of its input, so the application's last words, also when it is killed, are kept.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

from cdc_pipeline.logs import json_formatter, wrap_line

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


def rotating_handler(path: Path) -> logging.handlers.RotatingFileHandler:
    """A file handler that writes each record's message as it is and rotates by size (the environment's
    CDC_LOG_MAX_BYTES / CDC_LOG_BACKUPS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=int(os.environ.get("CDC_LOG_MAX_BYTES", DEFAULT_MAX_BYTES)),
        backupCount=int(os.environ.get("CDC_LOG_BACKUPS", DEFAULT_BACKUPS)), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def launcher_log(state_dir: Path) -> logging.Logger:
    """The launcher's own record: `python -m stack` commands and what each service did, JSON per line in
    <state dir>/logs/stack.log (rotated the same way); the terminal keeps the lines meant for people."""
    logger = logging.getLogger("stack")
    if not logger.handlers:
        handler = rotating_handler(state_dir / "logs" / "stack.log")
        handler.setFormatter(json_formatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def pipe(source, handler: logging.Handler) -> None:
    for raw in source:
        line = raw.decode("utf-8", errors="replace")
        if line.strip():
            handler.emit(logging.makeLogRecord({"msg": wrap_line(line), "levelno": logging.INFO}))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    handler = rotating_handler(Path(argv[0]))
    try:
        pipe(sys.stdin.buffer, handler)
    finally:
        handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
