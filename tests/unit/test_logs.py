"""JSON log lines: what the job and compaction write, what the log pipe stores, what the readers find."""
from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

from cdc_pipeline.logs import configure_json_logging, log_event, parse_lines, read_events, record_time, wrap_line
from stack.logpipe import pipe, rotating_handler
from stack.settings import REPO_ROOT


def test_an_event_is_one_json_object_with_its_fields_at_the_top(monkeypatch):
    out = io.StringIO()
    configure_json_logging(stream=out)
    try:
        log = logging.getLogger("cdc_pipeline.test")
        log_event(log, "cdc_batch", query="q.postgres", batch_id=7, lag={"t": 3}, name="clash", msg="clash too")
        log.warning('a "quoted"\nsecond line')
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().handlers[:] = []
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # a multi-line message or a traceback stays on its line
    batch, warning, failure = (json.loads(line) for line in lines)
    assert batch["event"] == batch["message"] == "cdc_batch"
    assert (batch["level"], batch["logger"], batch["query"], batch["batch_id"], batch["lag"]) == \
        ("INFO", "cdc_pipeline.test", "q.postgres", 7, {"t": 3})
    assert (batch["name_"], batch["msg_"]) == ("clash", "clash too")  # LogRecord's own names are kept apart
    assert "T" in batch["time"] and record_time(batch) is not None  # ISO 8601
    assert warning["message"] == 'a "quoted"\nsecond line' and warning["level"] == "WARNING"
    assert "ValueError: boom" in failure["exc_info"]


def test_wrap_line_keeps_json_objects_and_wraps_anything_else():
    assert wrap_line('{"level": "WARN", "message": "m"}\n') == '{"level": "WARN", "message": "m"}'
    for text in ("Traceback (most recent call last):", "{not json}", "[1, 2]", '  File "x.py", line 1'):
        record = json.loads(wrap_line(text + "\n"))
        assert record["message"] == text and record["logger"] == "stdout" and record_time(record) is not None


def test_the_log_pipe_rotates_by_size_and_every_line_parses(tmp_path, monkeypatch):
    monkeypatch.setenv("CDC_LOG_MAX_BYTES", "2000")
    monkeypatch.setenv("CDC_LOG_BACKUPS", "2")
    path = tmp_path / "logs" / "app.log"
    lines = [f'{{"event": "cdc_batch", "batch_id": {i}}}\n' if i % 2 else f"plain line {i}\n" for i in range(200)]
    handler = rotating_handler(path)
    try:
        pipe(io.BytesIO("".join(lines).encode()), handler)
    finally:
        handler.close()
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["app.log", "app.log.1", "app.log.2"]  # two backups kept, older ones dropped
    assert all(f.stat().st_size <= 2000 for f in files)
    kept = [r for f in files for r in read_events(f)]
    assert all(isinstance(r, dict) for r in kept)
    assert len(kept) == sum(len(f.read_text().splitlines()) for f in files)  # no line is not JSON
    assert {r["batch_id"] for r in read_events(path, "cdc_batch")} <= set(range(1, 200, 2))
    assert max(r["batch_id"] for r in read_events(path, "cdc_batch")) == 199  # the newest lines are in FILE


def test_the_log_pipe_as_a_process_keeps_output_after_signals(tmp_path):
    path = tmp_path / "app.log"
    proc = subprocess.Popen([sys.executable, "-m", "stack.logpipe", str(path)], stdin=subprocess.PIPE,
                            cwd=REPO_ROOT)
    proc.stdin.write(b"first\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not read_events(path) and time.monotonic() < deadline:  # written: its handlers are installed
        time.sleep(0.05)
    proc.send_signal(15)  # ignored: it ends at the end of its input, so the last words are kept
    proc.stdin.write(b'{"event": "cdc_query_stopped"}\n')
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    records = read_events(path)
    assert [r.get("message") for r in records][0] == "first"
    assert records[1] == {"event": "cdc_query_stopped"}


def test_read_events_from_an_offset_and_after_rotation(tmp_path):
    path = tmp_path / "a.log"
    path.write_text('{"event": "x", "n": 1}\nnoise\n{"event": "y"}\n')
    first = len(path.read_text().splitlines()[0]) + 1
    assert [r["event"] for r in read_events(path, offset=first)] == ["y"]
    assert read_events(path, "x", offset=10_000) == [{"event": "x", "n": 1}]  # rotated since: from the start
    assert read_events(tmp_path / "missing.log") == []
    assert [r["event"] for r in parse_lines(path.read_text())] == ["x", "y"]
