"""Pure parts of Iceberg maintenance and of the commit-conflict retry: SQL, summaries, scheduling."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cdc_pipeline.commit_retry import backoff_seconds, exception_text, is_commit_conflict, with_conflict_retries
from cdc_pipeline.config import MaintenanceConfig
from cdc_pipeline.maintenance import (
    STEPS,
    PartialRewrite,
    StepReport,
    failed_file_groups,
    format_report,
    procedure_sql,
    report_fields,
    run_every,
    run_ok,
    summarize,
)

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
MAINT = MaintenanceConfig(interval_ms=60_000, min_input_files=4, delete_file_threshold=2,
                          expire_older_than_ms=7 * 86_400_000, retain_last=3, orphan_older_than_ms=3 * 86_400_000)


def sql(step, table="bank_accounts_current"):
    return procedure_sql(step, "lake", "cdc", table, MAINT, 1024, NOW)


def test_rewrite_data_files_sql():
    assert sql("rewrite_data_files") == (
        "CALL `lake`.system.rewrite_data_files(table => '`cdc`.`bank_accounts_current`', strategy => 'binpack', "
        "options => map('target-file-size-bytes', '1024', 'min-input-files', '4', 'delete-file-threshold', '2', "
        "'partial-progress.enabled', 'true', 'partial-progress.max-commits', '10', 'remove-dangling-deletes', 'true'))")


def test_expire_snapshots_sql_keeps_the_last_n_and_uses_utc():
    assert sql("expire_snapshots") == (
        "CALL `lake`.system.expire_snapshots(table => '`cdc`.`bank_accounts_current`', "
        "older_than => TIMESTAMP '2026-11-15 12:00:00.000000', retain_last => 3)")
    local = NOW.astimezone(timezone(timedelta(hours=9)))  # the same instant in Seoul
    assert local.hour == 21
    assert procedure_sql("expire_snapshots", "lake", "cdc", "t", MAINT, 1, local) == procedure_sql(
        "expire_snapshots", "lake", "cdc", "t", MAINT, 1, NOW)


def test_remove_orphan_files_sql_lists_by_prefix():
    assert sql("remove_orphan_files") == (
        "CALL `lake`.system.remove_orphan_files(table => '`cdc`.`bank_accounts_current`', "
        "older_than => TIMESTAMP '2026-11-19 12:00:00.000000', prefix_listing => true)")


def test_other_steps_and_quoting():
    assert sql("rewrite_manifests", "odd`name") == "CALL `lake`.system.rewrite_manifests(table => '`cdc`.`odd``name`')"
    assert "min-input-files', '4'" in sql("rewrite_position_delete_files")
    with pytest.raises(ValueError, match="unknown maintenance step 'vacuum'"):
        sql("vacuum")
    assert all(sql(step).startswith(f"CALL `lake`.system.{step}(") for step in STEPS)


def test_summaries_of_procedure_rows():
    assert summarize("rewrite_data_files", [{"rewritten_data_files_count": 30, "added_data_files_count": 2,
                                             "rewritten_bytes_count": 900, "failed_data_files_count": 0,
                                             "removed_delete_files_count": 7}]) == {
        "files_rewritten": 30, "files_added": 2, "bytes_rewritten": 900, "files_removed": 7}
    assert summarize("rewrite_manifests", [{"rewritten_manifests_count": 5, "added_manifests_count": 1}]) == {
        "files_rewritten": 5, "files_added": 1}
    assert summarize("expire_snapshots", [{"deleted_data_files_count": 3, "deleted_manifest_files_count": 2,
                                           "deleted_manifest_lists_count": 4, "deleted_statistics_files_count": None}]) == {
        "files_removed": 9}
    assert summarize("remove_orphan_files", [{"orphan_file_location": "s3://a"}, {"orphan_file_location": "s3://b"}]) == {
        "files_removed": 2}
    assert summarize("rewrite_position_delete_files", []) == {"files_rewritten": 0, "files_added": 0, "bytes_rewritten": 0}
    assert failed_file_groups("rewrite_data_files", [{"failed_data_files_count": 4}]) == 4
    assert failed_file_groups("rewrite_manifests", [{"failed_data_files_count": 4}]) == 0


@pytest.mark.parametrize("text, conflict", [
    ("org.apache.iceberg.exceptions.ValidationException: Cannot commit, missing data files: [s3://x]", True),
    ("py4j.protocol.Py4JJavaError: ...\nCaused by: org.apache.iceberg.exceptions.CommitFailedException: stale", True),
    (str(PartialRewrite(3)), True),
    ("org.apache.spark.SparkException: Job aborted\nCaused by: org.apache.iceberg.exceptions.NotFoundException: "
     "Location does not exist: s3://lake/cdc/t_current/data/00001.parquet", True),
    ("org.apache.iceberg.exceptions.NotFoundException: File does not exist: /tmp/w/t/data/1.parquet", True),
    ("pyspark.errors.exceptions.captured.IllegalArgumentException: Snapshot 4977286148257029772 is not an ancestor "
     "of 776555088859825788", True),
    ("java.lang.IllegalArgumentException: Cannot parse 'x' as an interval", False),
    ("org.apache.iceberg.exceptions.NoSuchTableException: Table does not exist: cdc.t", False),
    ("org.apache.spark.sql.AnalysisException: Table not found", False),
    ("java.net.ConnectException: Connection refused", False),
])
def test_commit_conflicts_are_recognised(text, conflict):
    assert is_commit_conflict(text) is conflict


def test_exception_text_includes_java_causes():
    class Java:
        def __init__(self, text, cause=None):
            self.text, self.cause = text, cause

        def toString(self):
            return self.text

        def getCause(self):
            return self.cause

    error = RuntimeError("An error occurred while calling o123.sql")
    error.java_exception = Java("org.apache.spark.SparkException: job aborted",
                                Java("org.apache.iceberg.exceptions.ValidationException: Found conflicting files"))
    assert is_commit_conflict(exception_text(error))


def test_retries_conflicts_with_backoff_then_gives_up():
    calls, sleeps = [], []

    def conflicting():
        calls.append(1)
        raise RuntimeError("org.apache.iceberg.exceptions.CommitFailedException: conflict")

    with pytest.raises(RuntimeError, match="CommitFailedException"):
        with_conflict_retries(conflicting, 3, "test", sleeps.append)
    assert len(calls) == 4 and sleeps == [1, 2, 4]
    assert [backoff_seconds(n) for n in (1, 5, 6, 10)] == [1, 16, 30, 30]


def test_succeeds_after_a_conflict_and_does_not_retry_other_errors():
    outcomes = [RuntimeError("ValidationException: Found new conflicting delete files"), "done"]

    def flaky():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_conflict_retries(flaky, 2, "test", lambda s: None) == ("done", 2)
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("Connection refused")

    with pytest.raises(ValueError):
        with_conflict_retries(broken, 5, "test", lambda s: None)
    assert len(calls) == 1


def test_report_table_and_fields():
    reports = [StepReport("t_current", "rewrite_data_files", files_rewritten=30, files_added=2, bytes_rewritten=9000,
                          attempts=2, seconds=1.5),
               StepReport("t_current", "expire_snapshots", snapshots_expired=12, files_removed=40, attempts=1),
               StepReport("t_changes", "rewrite_manifests", "failed", attempts=1, detail="boom")]
    table = format_report(reports).splitlines()
    assert table[0].split() == ["TABLE", "STEP", "STATUS", "REWRITTEN", "ADDED", "BYTES", "SNAPSHOTS", "REMOVED",
                                "TRIES", "SECONDS", "DETAIL"]
    assert table[1].split() == ["t_current", "rewrite_data_files", "ok", "30", "2", "9000", "0", "0", "2", "1.5"]
    assert table[3].split()[-1] == "boom"
    document = report_fields(reports, NOW, 3.25)
    assert (document["ok"], document["seconds"]) == (False, 3.25)
    assert document["steps"][1]["snapshots_expired"] == 12 and document["steps"][2]["status"] == "failed"
    assert run_ok(reports[:2]) and not run_ok(reports)


def test_run_every_keeps_the_interval_and_stops_when_asked():
    now = [0.0]
    starts, waits = [], []

    def action():
        starts.append(now[0])
        now[0] += 3  # each run takes 3 s

    def wait(seconds):
        waits.append(seconds)
        now[0] += seconds
        return len(waits) == 3  # a stop arrives during the third wait

    runs = run_every(10, action, lambda: False, wait, clock=lambda: now[0])
    assert runs == 3 and starts == [0, 10, 20] and waits == [7, 7, 7]
    assert run_every(10, action, lambda: True, wait) == 0
    assert run_every(1, action, lambda: False, lambda s: False, clock=lambda: now[0], max_runs=2) == 2
