"""Consistency check (`make verify`, jobs/verify.py; also the pipeline tests' convergence check).

For every configured table and each of its sinks:

* the current table against MySQL: row counts, and per key a SHA-256 of all the row's columns in one
  normal form (`normal`: batch.canonical_string, instants in UTC; a DECIMAL, a DATETIME(6) or a
  TIMESTAMP must match to the last digit). Differences are keys: missing (in MySQL, not in the sink),
  extra (in the sink, not in MySQL), different (values differ), duplicate (twice in the sink);
* the history (PostgreSQL `<name>_history`, Iceberg `<name>_changes`): no change (key + `_seq`) held
  twice, and each key's latest change agrees with the current table (a delete: no current row;
  otherwise the current row carries that change's `_seq`);
* completeness (cdc_pipeline.verify_completeness): every change the Kafka topic still holds (but the
  dead letters) is in the history, and each history holds every change the other one holds.

Rows are streamed (MySQL unbuffered cursor, PostgreSQL server-side cursor, Iceberg `toLocalIterator`)
and hashed as they arrive, so memory holds one key and 32-byte digest per MySQL row, never the rows.
The hash is computed in Python for all three sides, from the same normal form.

The three systems are read one after the other, not in one snapshot: run it when the pipeline has
caught up (a change in flight shows up as a difference that goes away on the next run). Reading and
hashing: cdc_pipeline.verify_readers; this module compares and reports.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .verify_readers import (DEFAULT_LIMIT, VerifyError, _column_index, _iceberg_exists, iceberg_hashes,
                             iceberg_history_duplicates, iceberg_history_stale, iceberg_versions_stale, key_order,
                             mysql_columns, mysql_hashes, pg_columns, pg_hashes, pg_history_duplicates,
                             pg_history_stale, pg_versions_stale, source_table_of)
from .verify_completeness import history_missing
from .vocabulary import current_table, sink_column_name, versions_table


# --- reports ------------------------------------------------------------------------------------------


@dataclass
class TableReport:
    table: str
    sink: str
    source_rows: int
    sink_rows: int
    missing: list = field(default_factory=list)  # keys in MySQL, not in the sink
    extra: list = field(default_factory=list)  # keys in the sink, not in MySQL
    different: list = field(default_factory=list)  # keys whose values differ
    duplicate_keys: list = field(default_factory=list)  # keys the sink's current table holds more than once
    key_columns: tuple = ()
    history_duplicates: int | None = None  # change rows held more than once; None: not checked
    history_duplicate_keys: list = field(default_factory=list)  # a sample
    history_stale: int | None = None  # keys whose latest change disagrees with the current table
    history_stale_keys: list = field(default_factory=list)  # a sample
    history_missing: int | None = None  # changes Kafka or the other history holds, this history lacks
    history_missing_keys: list = field(default_factory=list)  # a sample
    versions_stale: int | None = None  # keys whose live version (<name>_versions) disagrees with current
    versions_stale_keys: list = field(default_factory=list)  # a sample
    notes: list = field(default_factory=list)  # informational (a table or column the sink lacks)

    @property
    def ok(self) -> bool:
        return (self.source_rows == self.sink_rows
                and not (self.missing or self.extra or self.different or self.duplicate_keys)
                and not self.history_duplicates and not self.history_stale and not self.history_missing
                and not self.versions_stale)

    @property
    def status(self) -> str:
        return "OK" if self.ok else "MISMATCH"

    def differences(self) -> list[tuple[str, int, list]]:
        """(kind, count, keys) for each kind of difference found."""
        out = [(kind, len(keys), keys) for kind, keys in (
            ("missing", self.missing), ("extra", self.extra), ("different", self.different),
            ("duplicate", self.duplicate_keys)) if keys]
        if self.history_duplicates:
            out.append(("history_duplicates", self.history_duplicates, self.history_duplicate_keys))
        if self.history_stale:
            out.append(("history_stale", self.history_stale, self.history_stale_keys))
        if self.history_missing:
            out.append(("history_missing", self.history_missing, self.history_missing_keys))
        if self.versions_stale:
            out.append(("versions_stale", self.versions_stale, self.versions_stale_keys))
        return out

    def describe(self, limit: int = DEFAULT_LIMIT) -> str:
        text = (f"{self.table} vs {self.sink}: {self.source_rows} vs {self.sink_rows} rows; "
                f"missing {self.missing[:limit]}, extra {self.extra[:limit]}, different {self.different[:limit]}")
        if self.duplicate_keys:
            text += f", duplicate {self.duplicate_keys[:limit]}"
        if self.history_duplicates:
            text += f"; history holds {self.history_duplicates} change(s) twice {self.history_duplicate_keys[:limit]}"
        if self.history_stale:
            text += f"; latest history differs from current for {self.history_stale_keys[:limit]}"
        if self.history_missing:
            text += f"; history lacks {self.history_missing} change(s) of {self.history_missing_keys[:limit]}"
        if self.versions_stale:
            text += f"; live version differs from current for {self.versions_stale_keys[:limit]}"
        return text

    def to_dict(self, limit: int = DEFAULT_LIMIT) -> dict:
        def keys(kind_keys: list, count: int) -> dict:
            return {"count": count, "keys": [key_dict(k, self.key_columns) for k in kind_keys[:limit]]}

        return {
            "table": self.table, "sink": self.sink, "status": self.status, "ok": self.ok,
            "source_rows": self.source_rows, "sink_rows": self.sink_rows,
            "missing": keys(self.missing, len(self.missing)),
            "extra": keys(self.extra, len(self.extra)),
            "different": keys(self.different, len(self.different)),
            "duplicate": keys(self.duplicate_keys, len(self.duplicate_keys)),
            "history_duplicates": None if self.history_duplicates is None
            else keys(self.history_duplicate_keys, self.history_duplicates),
            "history_stale": None if self.history_stale is None
            else keys(self.history_stale_keys, self.history_stale),
            "history_missing": None if self.history_missing is None
            else keys(self.history_missing_keys, self.history_missing),
            "versions_stale": None if self.versions_stale is None
            else keys(self.versions_stale_keys, self.versions_stale),
            "notes": list(self.notes),
        }


def key_dict(key: tuple, key_columns: Sequence[str]) -> dict:
    """A key for JSON: {column: value in normal form}; positional names when the columns are unknown."""
    names = list(key_columns) if len(key_columns) == len(key) else [f"key{i}" for i in range(len(key))]
    return dict(zip(names, key))


def format_key(key: tuple, key_columns: Sequence[str]) -> str:
    parts = [f"{name}={'NULL' if value is None else value}" for name, value in key_dict(key, key_columns).items()]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def compare(table: str, sink: str, source: Mapping, target, key_columns: Sequence[str] = ()) -> TableReport:
    """Compare key -> hash of MySQL with the sink's (a mapping, or an iterable of (key, hash) pairs that is
    consumed once: a key seen twice is a duplicate)."""
    report = TableReport(table, sink, len(source), 0, key_columns=tuple(key_columns))
    pairs = target.items() if isinstance(target, Mapping) else target
    seen = set()
    for key, digest in pairs:
        report.sink_rows += 1
        if key in seen:
            report.duplicate_keys.append(key)
            continue
        seen.add(key)
        expected = source.get(key)
        if expected is None:
            report.extra.append(key)
        elif expected != digest:
            report.different.append(key)
    report.missing = [k for k in source if k not in seen]
    for keys in (report.missing, report.extra, report.different, report.duplicate_keys):
        keys.sort(key=key_order)
    return report


def exit_code(reports: Sequence[TableReport]) -> int:
    """0 when every check matches, 1 otherwise (2, "could not check", is the caller's)."""
    return 0 if reports and all(r.ok for r in reports) else 1


HEADER = ("table", "sink", "source rows", "sink rows", "missing", "extra", "different", "history dups",
          "history stale", "history lacks", "versions stale", "status")


def render_text(reports: Sequence[TableReport], limit: int = DEFAULT_LIMIT) -> str:
    """The table of results, the differing keys (at most `limit` per kind), then OK or MISMATCH."""
    rows = [HEADER]
    for r in reports:
        rows.append((r.table, r.sink, str(r.source_rows), str(r.sink_rows), str(len(r.missing)), str(len(r.extra)),
                     str(len(r.different)), "-" if r.history_duplicates is None else str(r.history_duplicates),
                     "-" if r.history_stale is None else str(r.history_stale),
                     "-" if r.history_missing is None else str(r.history_missing),
                     "-" if r.versions_stale is None else str(r.versions_stale), r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = set(range(2, 11))

    def line(row):
        return "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    out = [line(rows[0]), line(tuple("-" * w for w in widths)), *(line(row) for row in rows[1:])]
    notes = [(r, note) for r in reports for note in r.notes]
    if notes:
        out.append("")
        out.extend(f"note: {r.table} / {r.sink}: {note}" for r, note in notes)
    bad = [r for r in reports if not r.ok]
    out.append("")
    if not bad and reports:
        out.append(f"OK: {len(reports)} check(s), MySQL = every sink, every history holds each change once, "
                   "and every change Kafka holds, and each live version is the current row")
        return "\n".join(out)
    out.append(f"MISMATCH: {len(bad)} of {len(reports)} check(s) differ" if reports else "MISMATCH: nothing was checked")
    for r in bad:
        if r.source_rows != r.sink_rows:
            out.append(f"  {r.table} / {r.sink}: {r.source_rows} rows in MySQL, {r.sink_rows} in the sink")
        for kind, count, keys in r.differences():
            shown = ", ".join(format_key(k, r.key_columns) for k in keys[:limit])
            more = f" (and {count - min(len(keys), limit)} more)" if count > min(len(keys), limit) else ""
            out.append(f"  {r.table} / {r.sink}: {kind.replace('_', ' ')} {count}: {shown}{more}")
    return "\n".join(out)


def render_json(reports: Sequence[TableReport], limit: int = DEFAULT_LIMIT) -> dict:
    code = exit_code(reports)
    return {"status": "OK" if code == 0 else "MISMATCH", "ok": code == 0, "limit": limit,
            "results": [r.to_dict(limit) for r in reports]}


# --- the check ----------------------------------------------------------------------------------------


def verify_table(table_cfg, mysql_conn, pg_conn=None, spark=None, iceberg_cfg=None, pg_schema="public", *,
                 history: bool = False, limit: int = DEFAULT_LIMIT) -> list[TableReport]:
    """One report per sink of the table that can be checked (PostgreSQL with pg_conn, Iceberg with spark);
    with history=True each report also covers that sink's history."""
    db, table = source_table_of(table_cfg.topic)
    columns = mysql_columns(mysql_conn, db, table)
    if not columns:
        raise VerifyError(f"MySQL table `{db}`.`{table}` (topic {table_cfg.topic}) does not exist, "
                          "or the user cannot read it")
    keys = tuple(columns[_column_index(columns, k)] for k in table_cfg.key_columns)
    source = mysql_hashes(mysql_conn, db, table, columns, keys)
    stored = [sink_column_name(c) for c in columns]  # a column named like a pipeline column is renamed
    reports = []
    if pg_conn is not None and "postgres" in table_cfg.sinks:
        name = current_table(table_cfg.name)
        present = pg_columns(pg_conn, pg_schema, name)
        if present is None:
            report = compare(table_cfg.name, "postgres", source, (), keys)
            report.notes.append(f"table {pg_schema}.{name} does not exist")
        else:
            report = compare(table_cfg.name, "postgres", source,
                             pg_hashes(pg_conn, pg_schema, name, stored, present, keys), keys)
            lacking = [c for c in stored if c not in present]
            if lacking:
                report.notes.append(f"{name} lacks column(s) {', '.join(lacking)} (compared as NULL)")
        if history:
            report.history_duplicates, report.history_duplicate_keys = pg_history_duplicates(
                pg_conn, table_cfg, pg_schema, limit)
            report.history_stale, report.history_stale_keys = pg_history_stale(pg_conn, table_cfg, pg_schema, limit)
            report.versions_stale, report.versions_stale_keys = pg_versions_stale(pg_conn, table_cfg, pg_schema, limit)
            if report.versions_stale is None and present is not None:
                report.notes.append(f"view {pg_schema}.{versions_table(table_cfg.name)} does not exist")
        reports.append(report)
    if spark is not None and "iceberg" in table_cfg.sinks:
        name = current_table(table_cfg.name)
        if not _iceberg_exists(spark, iceberg_cfg, name):
            report = compare(table_cfg.name, "iceberg", source, (), keys)
            report.notes.append(f"table {iceberg_cfg.catalog_name}.{iceberg_cfg.namespace}.{name} does not exist")
        else:
            notes: list = []
            report = compare(table_cfg.name, "iceberg", source,
                             iceberg_hashes(spark, iceberg_cfg, name, stored, keys, notes), keys)
            report.notes.extend(notes)
        if history:
            report.history_duplicates, report.history_duplicate_keys = iceberg_history_duplicates(
                spark, iceberg_cfg, table_cfg, limit)
            report.history_stale, report.history_stale_keys = iceberg_history_stale(
                spark, iceberg_cfg, table_cfg, limit)
            report.versions_stale, report.versions_stale_keys = iceberg_versions_stale(
                spark, iceberg_cfg, table_cfg, limit)
            if report.versions_stale is None:
                report.notes.append(f"view {iceberg_cfg.catalog_name}.{iceberg_cfg.namespace}."
                                    f"{versions_table(table_cfg.name)} does not exist")
        reports.append(report)
    return reports


def verify_pipeline(config, mysql_conn, pg_conn, spark, tables: Sequence[str] | None = None,
                    limit: int = DEFAULT_LIMIT, progress=None) -> list[TableReport]:
    """Every configured table (or those named in `tables`) against each of its sinks, histories included.
    `spark` None skips the Iceberg sinks, `pg_conn` None the PostgreSQL ones."""
    reports = []
    for table_cfg in config.tables:
        if tables and table_cfg.name not in tables:
            continue
        if progress is not None:
            progress(f"checking {table_cfg.name} ({table_cfg.topic}) against {', '.join(table_cfg.sinks)}")
        table_reports = verify_table(table_cfg, mysql_conn, pg_conn, spark, config.iceberg, config.postgres.schema,
                                     history=True, limit=limit)
        if spark is not None:
            if progress is not None:
                progress(f"checking {table_cfg.name}'s histories against {table_cfg.topic}")
            lacking = history_missing(spark, config, table_cfg, pg_conn, limit)
            for report in table_reports:
                if report.sink in lacking:
                    report.history_missing, report.history_missing_keys = lacking[report.sink]
        reports.extend(table_reports)
    return reports
