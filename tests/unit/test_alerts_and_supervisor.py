"""Pure logic of operating the job: alert payloads and rate limits, connector failures, the
supervisor's restart policy, lag per topic, the status file and the status screen."""
from __future__ import annotations

import json
import threading

from cdc_pipeline.alerts import Alerter, ConnectorWatcher, failed_components, redacted_url, slack_payload
from cdc_pipeline.supervisor import (
    StatusFile,
    Supervisor,
    is_new_partitions_glitch,
    end_offsets_of,
    lag_per_topic,
    paths_behind,
    read_status,
    restart_delay_ms,
    short_error,
)
from stack.status import capture_agreement, format_capture, format_pipeline, job_ok, latest_snapshot


def test_slack_payload():
    payload = slack_payload("query failed", "q failed; restart 1 of 10", {"error": "boom"})
    assert payload["text"] == "[cdc-pipeline] query failed: q failed; restart 1 of 10"
    assert payload["attachments"][0]["fields"] == [{"title": "error", "value": "boom", "short": True}]


def test_one_alert_per_condition_per_interval():
    now, posted = [0.0], []
    alerter = Alerter("http://127.0.0.1:1/hook", 60, post=lambda url, p: posted.append(p["text"]), clock=lambda: now[0])
    assert alerter.alert("query_failed", "query failed", "first")
    assert not alerter.alert("query_failed", "query failed", "again, too soon")
    assert alerter.alert("dead_letters", "dead letters", "another condition")
    now[0] = 61
    assert alerter.alert("query_failed", "query failed", "after the interval")
    assert posted == ["[cdc-pipeline] query failed: first", "[cdc-pipeline] dead letters: another condition",
                      "[cdc-pipeline] query failed: after the interval"]


def test_alerts_without_a_webhook_or_with_a_broken_one_do_not_raise():
    assert not Alerter(None, 1).alert("k", "c", "s")

    def refused(url, payload):
        raise OSError("Connection refused")

    assert not Alerter("http://127.0.0.1:1/hook", 1, post=refused).alert("k", "c", "s")


CONNECT_STATUS = {
    "mysql-connector": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}},
    "broken": {"status": {"connector": {"state": "RUNNING"},
                          "tasks": [{"id": 0, "state": "FAILED", "trace": "SchemaHistoryException: no file\n\tat x"},
                                    {"id": 1, "state": "RUNNING"}]}},
    "dead": {"status": {"connector": {"state": "FAILED", "trace": "ConnectException: gone"}, "tasks": []}},
}


def test_failed_connectors_and_tasks():
    assert failed_components(CONNECT_STATUS) == [
        ("connector:broken:task-0", "connector broken task 0", "SchemaHistoryException: no file\n\tat x"),
        ("connector:dead", "connector dead", "ConnectException: gone")]
    assert failed_components({}) == []


def test_connector_watcher_alerts_each_failure():
    posted = []
    alerter = Alerter("http://127.0.0.1:1/hook", 60, post=lambda url, p: posted.append(p["text"]))
    watcher = ConnectorWatcher("http://connect", 1, alerter, fetch=lambda url: CONNECT_STATUS)
    assert watcher.check() == ["connector:broken:task-0", "connector:dead"]
    assert posted == ["[cdc-pipeline] connector failed: connector broken task 0 is FAILED: SchemaHistoryException: no file",
                      "[cdc-pipeline] connector failed: connector dead is FAILED: ConnectException: gone"]

    def unreachable(url):
        raise OSError("refused")

    assert ConnectorWatcher("http://connect", 1, alerter, fetch=unreachable).check() == []


def test_restart_backoff_doubles_up_to_the_cap():
    assert [restart_delay_ms(n, 5000, 60000) for n in (1, 2, 3, 4, 5, 6)] == [5000, 10000, 20000, 40000, 60000, 60000]


def test_lag_per_topic():
    progress = {"latestOffset": {"a": {"0": 100, "1": 50}, "b": {"0": 7}},
                "endOffset": json.dumps({"a": {"0": 90, "1": 50}, "b": {"0": 7}})}
    assert lag_per_topic(progress) == {"a": 10, "b": 0}
    assert lag_per_topic({"endOffset": {"a": {"0": 1}}}) == {}
    assert end_offsets_of(progress) == {"a": {"0": 90, "1": 50}, "b": {"0": 7}}
    assert end_offsets_of({"endOffset": "not json"}) == {}


def test_paths_behind_a_topic_end():
    state = {"state": "running", "paths": {
        "postgres": {"state": "running", "last_batch": {"end_offsets": {"t": {"0": 10, "1": 4}}}},
        "iceberg": {"state": "running", "last_batch": {"end_offsets": {"t": {"0": 10, "1": 3}}}}}}
    assert paths_behind(state, "t", {0: 10, 1: 4}) == ["iceberg"]
    assert paths_behind(state, "t", {0: 10, 1: 3}) == []
    assert paths_behind(state, "t", {0: 0, 1: 0, 2: 0}) == []  # nothing to read
    assert paths_behind(state, "u", {0: 1}) == ["postgres", "iceberg"]
    fresh = {"state": "running", "paths": {"postgres": {"state": "running", "last_batch": None}}}
    assert paths_behind(fresh, "t", {0: 1}) == ["postgres"]
    # Read to the end, but some of it held back for a transaction not complete yet: read again later.
    state["paths"]["postgres"]["last_batch"]["transactions"] = {"held_records": 3, "held_topics": ["t"]}
    assert paths_behind(state, "t", {0: 10, 1: 3}) == ["postgres"]
    assert paths_behind(state, "u", {0: 0}) == []


def test_short_error_finds_the_root_cause():
    text = ("An error occurred while calling o55.awaitTermination.\n"
            "org.apache.spark.sql.streaming.StreamingQueryException: [FOREACH_BATCH_USER_FUNCTION_ERROR] An error ...\n"
            "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "psycopg2.OperationalError: connection to server at \"127.0.0.1\", port 5 failed: Connection refused\n"
            "\tat org.apache.spark.X\n")
    assert short_error(text) == 'psycopg2.OperationalError: connection to server at "127.0.0.1", port 5 failed: Connection refused'
    assert short_error("just a message\nmore") == "just a message"


class FakeQuery:
    """A query that fails (or runs until stopped) after `polls` awaitTermination calls."""

    def __init__(self, error=None, polls=2):
        self.id, self.runId, self.error, self.polls, self.stopped = "qid", "rid", error, polls, False

    @property
    def isActive(self):
        return self.polls > 0 and not self.stopped

    def awaitTermination(self, timeout):
        self.polls -= 1
        if self.polls == 0 and self.error is not None:
            raise self.error  # as PySpark does for a failed query

    def exception(self):
        return self.error


def supervise(tmp_path, queries, max_restarts=2, stop=None, alerts=None):
    posted = [] if alerts is None else alerts
    status = StatusFile(tmp_path / "run" / "status.json", "q")
    alerter = Alerter("http://hook", 3600, post=lambda url, p: posted.append(p["text"]))
    delays = []

    class Stop(threading.Event):
        def wait(self, timeout=None):
            delays.append(timeout)
            return super().is_set()

    stop = stop or Stop()
    supervisor = Supervisor(lambda: queries.pop(0), status, alerter, max_restarts, 1000, 4000, stop,
                            lambda q: setattr(q, "stopped", True), poll_s=0)
    return supervisor.run(), read_status(tmp_path / "run" / "status.json"), posted, delays


def test_supervisor_restarts_then_gives_up(tmp_path):
    queries = [FakeQuery(RuntimeError(f"psycopg2.OperationalError: down {n}")) for n in range(3)]
    code, state, posted, delays = supervise(tmp_path, queries)
    assert code == 1 and state["state"] == "permanently_failed"
    assert (state["restarts_in_a_row"], state["restarts_total"]) == (2, 2) and delays == [1.0, 2.0]
    assert state["last_error"]["message"] == "psycopg2.OperationalError: down 2"
    assert posted == ["[cdc-pipeline] query failed: q failed; restart 1 of 2 in 1s",
                      "[cdc-pipeline] query permanently failed: q failed 3 times in a row; not restarting"]
    assert job_ok({"job": {"state": state["state"]}}) is False


NEW_PARTITION_ERROR = ("java.util.NoSuchElementException: key not found: oltp.bankdb.loans-2\n\tat "
                       "scala.collection.MapLike.default(MapLike.scala:236)\n\tat org.apache.spark.sql.kafka010."
                       "KafkaMicroBatchStream$.$anonfun$metrics$2(KafkaMicroBatchStream.scala:393)")


def test_new_partitions_met_by_the_kafka_source_restart_at_once_without_an_alert(tmp_path):
    assert is_new_partitions_glitch(RuntimeError(NEW_PARTITION_ERROR))

    class StreamingQueryException(Exception):  # PySpark's: the message alone, the JVM trace beside it
        stackTrace = NEW_PARTITION_ERROR
        cause = None

    assert is_new_partitions_glitch(StreamingQueryException(
        "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: key not found: oltp.bankdb.loans-1"))
    assert not is_new_partitions_glitch("java.util.NoSuchElementException: key not found: x-1 at MyCode.scala")
    assert not is_new_partitions_glitch("ValueError: a")
    # Three in a row restart at once, silently; the fourth is a failure like any other.
    queries = [FakeQuery(RuntimeError(NEW_PARTITION_ERROR)) for _ in range(4)] + [FakeQuery(None, polls=1)]
    code, state, posted, delays = supervise(tmp_path, queries)
    assert code == 0 and delays == [1.0] and state["restarts_total"] == 4
    assert posted == ["[cdc-pipeline] query failed: q failed; restart 1 of 2 in 1s"]


def test_a_successful_batch_resets_the_failures_in_a_row(tmp_path):
    status_path = tmp_path / "run" / "status.json"
    first, second, third = (FakeQuery(RuntimeError("ValueError: a")), FakeQuery(RuntimeError("ValueError: b")),
                            FakeQuery(RuntimeError("ValueError: c")))
    queries = [first, second, third, FakeQuery(None, polls=1)]
    original = second.awaitTermination

    def progress_then_fail(timeout):  # the second run completes a batch before it fails
        StatusFile.batch_done(status_holder[0], {"batchId": 7, "sources": [{}]}, {})
        original(timeout)

    status_holder = []
    second.awaitTermination = progress_then_fail
    status = StatusFile(status_path, "q")
    status_holder.append(status)
    alerter = Alerter(None, 1)
    stop = threading.Event()
    code = Supervisor(lambda: queries.pop(0), status, alerter, 2, 1, 1, stop, lambda q: None, poll_s=0).run()
    state = read_status(status_path)
    assert code == 0 and state["state"] == "stopped"  # the fourth query ended without an error
    assert state["restarts_total"] == 3 and state["last_batch"]["batch_id"] == 7


def test_stop_request_stops_the_running_query(tmp_path):
    stop = threading.Event()
    stop.set()
    query = FakeQuery(None, polls=100)
    code = Supervisor(lambda: query, StatusFile(tmp_path / "s.json", "q"), Alerter(None, 1), 2, 1, 1, stop,
                      lambda q: setattr(q, "stopped", True), poll_s=0).run()
    assert code == 0 and not query.stopped  # asked before the start: never started
    stop.clear()
    queries = [query]

    def stopping_start():
        stop.set()
        return queries.pop(0)

    assert Supervisor(stopping_start, StatusFile(tmp_path / "s.json", "q"), Alerter(None, 1), 2, 1, 1, stop,
                      lambda q: setattr(q, "stopped", True), poll_s=0).run() == 0
    assert query.stopped and read_status(tmp_path / "s.json")["state"] == "stopped"


def test_latest_snapshot_from_table_metadata():
    metadata = {"current-snapshot-id": 2, "snapshots": [
        {"snapshot-id": 1, "timestamp-ms": 0, "summary": {"operation": "append"}},
        {"snapshot-id": 2, "timestamp-ms": 1_700_000_000_000,
         "summary": {"operation": "overwrite", "cdc.batch-id": "41", "total-records": "10", "total-data-files": "3",
                     "total-delete-files": "1"}}]}
    assert latest_snapshot(metadata) == {"snapshot_id": 2, "committed_at": "2023-11-14T22:13:20+00:00",
                                         "operation": "overwrite", "batch_id": "41", "records": "10",
                                         "data_files": "3", "delete_files": "1", "snapshots": 2}
    assert latest_snapshot({"current-snapshot-id": -1, "snapshots": []}) == {"snapshot_id": None, "snapshots": 0}


def test_capture_agreement():
    agree = capture_agreement({"bankdb.a"}, {"bankdb.a"})
    assert agree == {"tables": 1, "not_captured": [], "not_configured": []}
    assert format_capture(agree) == ["CAPTURE  1 table(s); the config's tables: and the connector's include list agree"]
    assert format_capture({"error": "Kafka Connect at http://127.0.0.1:8083: ConnectionError"})[0].startswith(
        "CAPTURE  unknown")


def test_status_screen():
    status = {
        "capture": capture_agreement({"bankdb.a", "bankdb.b"}, {"bankdb.a", "bankdb.c"}),
        "snapshot": {"running": True, "completed": False, "tables_total": 2, "tables_remaining": 1, "seconds": 30.0,
                     "tables": {"t": {"rows": 500, "estimate": 1000, "percent": 50.0, "eta_seconds": 30.0}}},
        "job": {"state": "restarting", "pid": 42, "query_name": "q", "spark_ui": "http://127.0.0.1:4040",
                "metrics": "http://127.0.0.1:9464/metrics",
                "paths": {"postgres": {"query_name": "q.postgres", "state": "running", "trigger": "trigger 1 second",
                                       "last_batch": {"batch_id": 9, "timestamp": "2026-11-22T00:00:00Z",
                                                      "rows_in": 10, "input_rows_per_s": 5.0,
                                                      "processed_rows_per_s": 20.0, "lag_per_topic": {"t": 3}}},
                          "iceberg": {"query_name": "q.iceberg", "state": "restarting", "restarts_total": 3,
                                      "last_batch": None}},
                "last_error": {"at": "2026-11-22T00:00:01Z", "message": "psycopg2.OperationalError: down"},
                "restarts_in_a_row": 2, "restarts_total": 3, "next_restart_at": "2026-11-22T00:00:11Z",
                "max_restarts": 10, "compaction": "not scheduled"},
        "warehouse": {"error": "connection refused"},
        "lakehouse": {"tables": {"t_current": {"state": "not created yet"}}},
    }
    screen = "\n".join(format_pipeline(status))
    for text in ("CAPTURE  the config's tables: and the connector's include list differ",
                 "  bankdb.b                     under tables:, not captured by the connector",
                 "  bankdb.c                     captured, not under tables:: its records go to the dead letters",
                 "STREAMING JOB  q: RESTARTING  (PID 42)", "postgres path    q.postgres: RUNNING, trigger 1 second",
                 "iceberg path     q.iceberg: RESTARTING, 3 restart(s)",
                 "    last batch     #9 at 2026-11-22T00:00:00Z: 10 rows", "    lag            t 3",
                 "restarts         2 in a row (max 10), 3 in all; next at 2026-11-22T00:00:11Z",
                 "last error       2026-11-22T00:00:01Z: psycopg2.OperationalError: down",
                 "WAREHOUSE  unreachable: connection refused", "t_current                    not created yet",
                 "SNAPSHOT  running for 30 s: 1 of 2 table(s) left", "  t                            500 of ~1,000 rows (50 %), ETA 30 s",
                 "metrics          http://127.0.0.1:9464/metrics (Spark's: http://127.0.0.1:4040/metrics/prometheus)"):
        assert text in screen, text
    assert job_ok(status)


def test_each_path_has_its_own_entry_and_the_job_shows_the_worst(tmp_path):
    status_path = tmp_path / "run" / "status.json"
    status = StatusFile(status_path, "q", {"postgres": "q.postgres", "iceberg": "q.iceberg"})
    pg, ice = status.path_status("postgres"), status.path_status("iceberg")
    pg.batch_done({"name": "q.postgres", "batchId": 4, "sources": [{}]}, {"dead_letters": 0})
    ice.batch_done({"name": "q.iceberg", "batchId": 1, "sources": [{}]}, {})
    assert read_status(status_path)["state"] == "running"
    ice.update(state="restarting", restarts_in_a_row=1, restarts_total=1, next_restart_at="2026-12-02T00:00:05+00:00",
               last_error={"at": "2026-12-02T00:00:00.000+00:00", "message": "S3 down"})
    state = read_status(status_path)
    assert (state["state"], state["restarts_total"], state["next_restart_at"]) == ("restarting", 1,
                                                                                    "2026-12-02T00:00:05+00:00")
    assert state["last_error"]["message"] == "S3 down"
    assert state["paths"]["postgres"]["last_batch"]["batch_id"] == 4 and state["paths"]["postgres"]["state"] == "running"
    ice.update(state="permanently_failed")
    pg.update(state="stopped")
    status.update(state="stopped")
    assert read_status(status_path)["state"] == "permanently_failed"  # a stop does not hide a failed path


def test_two_failing_paths_alert_once_each(tmp_path):
    posted = []
    alerter = Alerter("http://hook", 3600, post=lambda url, p: posted.append(p["text"]))
    status = StatusFile(tmp_path / "s.json", "q", {"postgres": "q.postgres", "iceberg": "q.iceberg"})
    for name in ("postgres", "iceberg"):
        queries = [FakeQuery(RuntimeError("OSError: down")) for _ in range(2)]
        Supervisor(lambda: queries.pop(0), status.path_status(name), alerter, 1, 1, 1, threading.Event(),
                   lambda q: None, poll_s=0).run()
    assert posted == ["[cdc-pipeline] query failed: q.postgres failed; restart 1 of 1 in 0s",
                      "[cdc-pipeline] query permanently failed: q.postgres failed 2 times in a row; not restarting",
                      "[cdc-pipeline] query failed: q.iceberg failed; restart 1 of 1 in 0s",
                      "[cdc-pipeline] query permanently failed: q.iceberg failed 2 times in a row; not restarting"]
    assert read_status(tmp_path / "s.json")["restarts_total"] == 2


def test_a_failing_webhook_is_logged_without_its_secret_path(caplog):
    secret = "https://hooks.example.com/services/T000/B000/XXXXSECRET"

    def refused(url, payload):
        raise OSError(f"cannot reach {url}")

    with caplog.at_level("WARNING", logger="cdc_pipeline.alerts"):
        assert not Alerter(secret, 1, post=refused).alert("k", "c", "s")
    assert "XXXXSECRET" not in caplog.text and "services" not in caplog.text
    assert "https://hooks.example.com/…" in caplog.text
    assert redacted_url("http://127.0.0.1:9/hook?token=abc") == "http://127.0.0.1:9/…"


def test_the_webhook_url_is_not_in_the_config_repr():
    from cdc_pipeline.config import AlertsConfig
    assert "SECRET" not in repr(AlertsConfig(webhook_url="https://hooks.example.com/SECRET"))
