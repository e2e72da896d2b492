"""Logs as one JSON object per line, for the job, compaction and the stack launcher.

Every line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; a structured event (a batch,
a query start, a maintenance report) adds `event` and its fields at the top level, so
`jq 'select(.event == "cdc_batch") | .trigger_ms'` reads a log as it is. The Spark JVMs write the
same four fields (conf/log4j2.properties). Python's records go through python-json-logger; the
stack's log pipe (stack/logpipe.py) wraps any other line (a traceback, a JVM's first words) the same
way and rotates the file by size.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

# Attributes of logging.LogRecord: an event field of the same name would raise KeyError in `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_QUIET_LOGGERS = ("py4j",)  # one INFO line per Python callback otherwise


def _json_default(value):
    return value.isoformat() if isinstance(value, datetime) else str(value)


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter
    return JsonFormatter("{levelname}{name}{message}", style="{", timestamp="time", json_default=_json_default,
                         rename_fields={"levelname": "level", "name": "logger"})


def configure_json_logging(level: int = logging.INFO, stream=None) -> None:
    """The root logger writes JSON lines to `stream` (stdout): the launcher's log pipe or Docker's log
    driver stores and rotates them."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields) -> None:
    """One structured record: `message` and `event` are the event's name, its fields sit beside them."""
    extra = {"event": event}
    for key, value in fields.items():
        extra[f"{key}_" if key in _RECORD_ATTRIBUTES or key == "event" else key] = value
    logger.log(level, event, extra=extra)


def json_line(message: str, logger: str, level: str = "INFO", **fields) -> str:
    """A record written without Python's logging (the log pipe, the launcher's start line), with the
    same fields as json_formatter's."""
    return json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
                       "logger": logger, "message": message, **fields}, ensure_ascii=False, default=_json_default)


def wrap_line(line: str, logger: str = "stdout", level: str = "INFO") -> str:
    """A line as it is when it is already a JSON object, else the line as the `message` of one."""
    text = line.rstrip("\r\n")
    if text.startswith("{") and text.endswith("}"):
        try:
            if isinstance(json.loads(text), dict):
                return text
        except ValueError:
            pass
    return json_line(text, logger, level)


def parse_lines(text: str, event: str | None = None) -> Iterator[dict]:
    """The JSON records of a log text (lines that are not JSON are skipped), optionally of one event."""
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (event is None or record.get("event") == event):
            yield record


def read_events(path: Path, event: str | None = None, offset: int = 0) -> list[dict]:
    """The records of a log file from byte `offset` on (a file rotated since then is read from its start)."""
    try:
        with open(path, "rb") as fh:
            if offset <= fh.seek(0, 2):
                fh.seek(offset)
            else:
                fh.seek(0)
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return list(parse_lines(text, event))


def record_time(record: dict) -> float | None:
    """Epoch seconds of a record's `time` (None when absent or unreadable)."""
    try:
        return datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None
