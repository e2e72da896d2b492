"""Iceberg table maintenance beside the stream: what `make compact` does to every configured table.

Streaming MERGEs leave one small data file and (merge-on-read) position-delete files per batch and
partition, and two snapshots per batch. Each run, per table: bin-pack small data files (and files
carrying many deletes), rewrite position-delete files, rewrite manifests, expire old snapshots
(always keeping the newest `retain_last`), remove orphan files. A step that loses a commit race with
the stream is retried (commit_retry); a step that fails otherwise is reported and the others still run.

The stream detects replayed batches from the snapshot summaries (`cdc.batch-id`); expiring those
snapshots is safe because its MERGEs are also guarded by sequence and dedup key.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from .commit_retry import exception_text, with_conflict_retries
from .config import MaintenanceConfig, PipelineConfig
from .vocabulary import spark_string_literal

log = logging.getLogger(__name__)

STEPS = ("rewrite_data_files", "rewrite_position_delete_files", "rewrite_manifests", "expire_snapshots",
         "remove_orphan_files")


@dataclass
class StepReport:
    table: str
    step: str
    status: str = "ok"  # ok | failed | skipped | stopped
    files_rewritten: int = 0
    files_added: int = 0
    bytes_rewritten: int = 0
    snapshots_expired: int = 0
    files_removed: int = 0
    attempts: int = 0
    seconds: float = 0.0
    detail: str = ""


def maintained_tables(config: PipelineConfig) -> list[str]:
    """The Iceberg tables the stream writes: `<name>_current` and `<name>_changes` per table."""
    names = []
    for table in config.tables:
        if "iceberg" in table.sinks:
            names += [f"{table.name}_current", f"{table.name}_changes"]
    return names


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _timestamp(instant: datetime) -> str:
    return f"TIMESTAMP '{instant.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _options(options: dict[str, str]) -> str:
    return "map(" + ", ".join(f"{spark_string_literal(k)}, {spark_string_literal(v)}" for k, v in options.items()) + ")"


def procedure_sql(step: str, catalog: str, namespace: str, table: str, maintenance: MaintenanceConfig,
                  target_file_size_bytes: int, now: datetime) -> str:
    """The `CALL <catalog>.system.<step>(...)` statement for one table (session time zone UTC)."""
    proc = f"{_quote(catalog)}.system.{step}"
    target = spark_string_literal(f"{_quote(namespace)}.{_quote(table)}")
    if step == "rewrite_data_files":
        options = {
            "target-file-size-bytes": str(target_file_size_bytes),
            "min-input-files": str(maintenance.min_input_files),
            "delete-file-threshold": str(maintenance.delete_file_threshold),
            # Commit each file group on its own: a group that conflicts with the stream fails alone.
            "partial-progress.enabled": "true",
            "partial-progress.max-commits": "10",
            "remove-dangling-deletes": "true",
        }
        return f"CALL {proc}(table => {target}, strategy => 'binpack', options => {_options(options)})"
    if step == "rewrite_position_delete_files":
        options = {"min-input-files": str(maintenance.min_input_files), "partial-progress.enabled": "true"}
        return f"CALL {proc}(table => {target}, options => {_options(options)})"
    if step == "rewrite_manifests":
        return f"CALL {proc}(table => {target})"
    if step == "expire_snapshots":
        older_than = now - timedelta(milliseconds=maintenance.expire_older_than_ms)
        return (f"CALL {proc}(table => {target}, older_than => {_timestamp(older_than)}, "
                f"retain_last => {maintenance.retain_last})")
    if step == "remove_orphan_files":
        older_than = now - timedelta(milliseconds=maintenance.orphan_older_than_ms)
        # S3FileIO has no Hadoop file system to list with: list by prefix.
        return f"CALL {proc}(table => {target}, older_than => {_timestamp(older_than)}, prefix_listing => true)"
    raise ValueError(f"unknown maintenance step {step!r}; expected one of {', '.join(STEPS)}")


def summarize(step: str, rows: list[dict]) -> dict[str, int]:
    """StepReport counters from the rows a procedure returned (column names of Iceberg 1.10)."""
    def total(column: str) -> int:
        return sum(int(row.get(column) or 0) for row in rows)

    if step == "rewrite_data_files":
        return {"files_rewritten": total("rewritten_data_files_count"), "files_added": total("added_data_files_count"),
                "bytes_rewritten": total("rewritten_bytes_count"), "files_removed": total("removed_delete_files_count")}
    if step == "rewrite_position_delete_files":
        return {"files_rewritten": total("rewritten_delete_files_count"),
                "files_added": total("added_delete_files_count"), "bytes_rewritten": total("rewritten_bytes_count")}
    if step == "rewrite_manifests":
        return {"files_rewritten": total("rewritten_manifests_count"), "files_added": total("added_manifests_count")}
    if step == "expire_snapshots":
        return {"files_removed": sum(total(c) for c in (
            "deleted_data_files_count", "deleted_position_delete_files_count", "deleted_equality_delete_files_count",
            "deleted_manifest_files_count", "deleted_manifest_lists_count", "deleted_statistics_files_count"))}
    if step == "remove_orphan_files":
        return {"files_removed": len(rows)}
    raise ValueError(f"unknown maintenance step {step!r}")


def failed_file_groups(step: str, rows: list[dict]) -> int:
    """Data files whose group did not commit (partial progress): a conflict to retry."""
    if step != "rewrite_data_files":
        return 0
    return sum(int(row.get("failed_data_files_count") or 0) for row in rows)


class PartialRewrite(Exception):
    """Some file groups of a rewrite lost a commit race; phrased so commit_retry retries it."""

    def __init__(self, failed_files: int):
        super().__init__(f"CommitFailedException: {failed_files} data file(s) were not rewritten "
                         "(their file groups conflicted with concurrent commits)")
        self.failed_files = failed_files


class TableMaintenance:
    """Runs the steps on one catalog through a SparkSession; `stop()` ends a run between steps."""

    def __init__(self, spark, config: PipelineConfig, sleep: Callable[[float], None] = time.sleep):
        self.spark = spark
        self.config = config
        self.sleep = sleep
        self.stop_requested = False

    def _ident(self, table: str) -> str:
        ice = self.config.iceberg
        return f"{_quote(ice.catalog_name)}.{_quote(ice.namespace)}.{_quote(table)}"

    def table_exists(self, table: str) -> bool:
        ice = self.config.iceberg
        return self.spark.catalog.tableExists(f"{ice.catalog_name}.{ice.namespace}.{table}")

    def snapshot_ids(self, table: str) -> set[int]:
        return {r["snapshot_id"] for r in self.spark.sql(f"SELECT snapshot_id FROM {self._ident(table)}.snapshots").collect()}

    def run(self, tables: Iterable[str] | None = None, now: datetime | None = None) -> list[StepReport]:
        reports = []
        for table in (maintained_tables(self.config) if tables is None else tables):
            if not self.table_exists(table):
                reports += [StepReport(table, step, "skipped", detail="table not created yet") for step in STEPS]
                continue
            for step in STEPS:
                if self.stop_requested:
                    reports.append(StepReport(table, step, "stopped", detail="stop requested"))
                    continue
                reports.append(self.run_step(table, step, now or datetime.now(timezone.utc)))
        return reports

    def run_step(self, table: str, step: str, now: datetime) -> StepReport:
        ice = self.config.iceberg
        sql = procedure_sql(step, ice.catalog_name, ice.namespace, table, self.config.maintenance,
                            ice.target_file_size_bytes, now)
        report = StepReport(table, step)
        started = time.monotonic()
        before = self.snapshot_ids(table) if step == "expire_snapshots" else set()
        totals: dict[str, int] = {}

        def call() -> list[dict]:
            report.attempts += 1
            rows = [r.asDict() for r in self.spark.sql(sql).collect()]
            for key, value in summarize(step, rows).items():  # a retried partial rewrite adds up
                totals[key] = totals.get(key, 0) + value
            failed = failed_file_groups(step, rows)
            if failed:
                raise PartialRewrite(failed)
            return rows

        try:
            with_conflict_retries(call, ice.commit_conflict_retries, f"{table} {step}", self.sleep)
        except Exception as error:  # noqa: BLE001 - reported; the other steps and tables still run
            report.status = "failed"
            report.detail = exception_text(error).strip().splitlines()[0][:500]
            log.error("%s %s failed: %s", table, step, exception_text(error)[:4000])
        for key, value in totals.items():
            setattr(report, key, value)
        if step == "expire_snapshots" and report.status == "ok":
            report.snapshots_expired = len(before - self.snapshot_ids(table))
        report.seconds = round(time.monotonic() - started, 2)
        return report


COLUMNS = (("table", "TABLE"), ("step", "STEP"), ("status", "STATUS"), ("files_rewritten", "REWRITTEN"),
           ("files_added", "ADDED"), ("bytes_rewritten", "BYTES"), ("snapshots_expired", "SNAPSHOTS"),
           ("files_removed", "REMOVED"), ("attempts", "TRIES"), ("seconds", "SECONDS"), ("detail", "DETAIL"))


def format_report(reports: list[StepReport]) -> str:
    """The run as a table for people: one line per table and step."""
    rows = [[label for _, label in COLUMNS]] + [[str(getattr(r, key)) for key, _ in COLUMNS] for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if 3 <= i <= 9 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)


def report_fields(reports: list[StepReport], started: datetime, seconds: float) -> dict:
    """The run for machines: the fields of its one `cdc_maintenance` log record (log shippers, alerting)."""
    return {"started": started.astimezone(timezone.utc).isoformat(), "seconds": round(seconds, 2),
            "ok": run_ok(reports), "steps": [asdict(r) for r in reports]}


def run_ok(reports: list[StepReport]) -> bool:
    return all(r.status != "failed" for r in reports)


def run_every(interval_s: float, action: Callable[[], None], should_stop: Callable[[], bool],
              wait: Callable[[float], bool], clock: Callable[[], float] = time.monotonic,
              max_runs: int | None = None) -> int:
    """Scheduled mode: `action` now, then every `interval_s` from one start to the next, until
    `should_stop()`; `wait(seconds)` sleeps and returns True when woken by a stop. Returns runs made."""
    runs = 0
    while not should_stop() and (max_runs is None or runs < max_runs):
        started = clock()
        action()
        runs += 1
        remaining = interval_s - (clock() - started)
        if remaining > 0 and wait(remaining):
            break
    return runs
