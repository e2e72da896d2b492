"""Consistency check (`make verify`, jobs/verify.py; also the pipeline tests' convergence check).

For every configured table and each of its sinks:

* the current table against MySQL: row counts, and per key a SHA-256 of all the row's columns in one
  normal form (`normal`: batch.canonical_string, instants in UTC; a DECIMAL, a DATETIME(6) or a
  TIMESTAMP must match to the last digit). Differences are keys: missing (in MySQL, not in the sink),
  extra (in the sink, not in MySQL), different (values differ), duplicate (twice in the sink);
* the history (PostgreSQL `<name>_history`, Iceberg `<name>_changes`): no change (key + `_seq`) held
  twice, and each key's latest change agrees with the current table (a delete: no current row;
  otherwise the current row carries that change's `_seq`).

Rows are streamed (MySQL unbuffered cursor, PostgreSQL server-side cursor, Iceberg `toLocalIterator`)
and hashed as they arrive, so memory holds one key and 32-byte digest per MySQL row, never the rows.
The hash is computed in Python for all three sides, from the same normal form.

The three systems are read one after the other, not in one snapshot: run it when the pipeline has
caught up (a change in flight shows up as a difference that goes away on the next run).
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .batch import canonical_string
from .errors import PipelineError
from .sinks.postgres_sql import quote_ident

DEFAULT_LIMIT = 10  # keys listed per kind of difference
FETCH_ROWS = 2000  # rows per round trip from MySQL and PostgreSQL
_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)


class VerifyError(PipelineError):
    """The check cannot run (a configured MySQL table is missing, a key column does not exist, ...)."""


# --- normal form and hashing --------------------------------------------------------------------------


def normal(value) -> str | None:
    """One value in the form all three systems agree on: aware instants in UTC (without the offset, as
    MySQL returns TIMESTAMP in a UTC session), integers as digits, the rest as batch.canonical_string."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return canonical_string(value)


def normal_row(values: Iterable) -> tuple:
    return tuple(normal(v) for v in values)


def row_hash(normal_values: Sequence) -> bytes:
    """SHA-256 of a normalized row: a JSON array, so NULL (null) and the string 'null' differ."""
    text = json.dumps(list(normal_values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).digest()


def hash_rows(rows: Iterable[Sequence], columns: Sequence[str], key_columns: Sequence[str]) -> Iterator[tuple[tuple, bytes]]:
    """(normalized key, row hash) per row; `rows` hold the values of `columns` in that order."""
    idx = [_column_index(columns, k) for k in key_columns]
    for row in rows:
        norm = normal_row(row)
        yield tuple(norm[i] for i in idx), row_hash(norm)


def _keyed(rows, columns: Sequence[str], key_columns) -> dict:
    """key -> row hash, for rows already in memory (tests)."""
    return dict(hash_rows(rows, columns, key_columns))


def _column_index(columns: Sequence[str], name: str) -> int:
    lowered = [c.lower() for c in columns]
    if name.lower() not in lowered:
        raise VerifyError(f"key column {name!r} is not a column of the MySQL table (columns: {', '.join(columns)})")
    return lowered.index(name.lower())


def key_order(key: tuple) -> tuple:
    """Sort keys naturally: integers by value (2 before 10), then strings; NULL first."""
    out = []
    for part in key:
        if part is None:
            out.append((0, 0, ""))
        elif _INTEGER.fullmatch(part):
            out.append((1, int(part), ""))
        else:
            out.append((2, 0, part))
    return tuple(out)


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
    notes: list = field(default_factory=list)  # informational (a table or column the sink lacks)

    @property
    def ok(self) -> bool:
        return (self.source_rows == self.sink_rows
                and not (self.missing or self.extra or self.different or self.duplicate_keys)
                and not self.history_duplicates and not self.history_stale)

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
          "history stale", "status")


def render_text(reports: Sequence[TableReport], limit: int = DEFAULT_LIMIT) -> str:
    """The table of results, the differing keys (at most `limit` per kind), then OK or MISMATCH."""
    rows = [HEADER]
    for r in reports:
        rows.append((r.table, r.sink, str(r.source_rows), str(r.sink_rows), str(len(r.missing)), str(len(r.extra)),
                     str(len(r.different)), "-" if r.history_duplicates is None else str(r.history_duplicates),
                     "-" if r.history_stale is None else str(r.history_stale), r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = set(range(2, 9))

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
        out.append(f"OK: {len(reports)} check(s), MySQL = every sink, every history holds each change once")
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


# --- reading MySQL ------------------------------------------------------------------------------------


def source_table_of(topic: str) -> tuple[str, str]:
    """'<prefix>.<db>.<table>' -> (db, table)."""
    parts = topic.split(".")
    return parts[-2], parts[-1]


def mysql_columns(mysql_conn, db: str, table: str) -> list[str]:
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position", (db, table))
        return [r[0] for r in cur.fetchall()]


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _fetch_batches(cur, size: int = FETCH_ROWS) -> Iterator[tuple]:
    while True:
        rows = cur.fetchmany(size)
        if not rows:
            return
        yield from rows


def mysql_hashes(mysql_conn, db: str, table: str, columns: Sequence[str], key_columns: Sequence[str]) -> dict:
    """key -> row hash of the MySQL table, read with an unbuffered cursor (rows are not kept)."""
    import pymysql.cursors

    col_list = ", ".join(_mysql_ident(c) for c in columns)
    cur = mysql_conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(f"SELECT {col_list} FROM {_mysql_ident(db)}.{_mysql_ident(table)}")
        return dict(hash_rows(_fetch_batches(cur), columns, key_columns))
    finally:
        cur.close()


# --- reading PostgreSQL -------------------------------------------------------------------------------


def _pg_relation(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def pg_columns(pg_conn, schema: str, name: str) -> list[str] | None:
    """The table's columns, or None when it does not exist (the job creates tables on first use)."""
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (_pg_relation(schema, name),))
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                    "ORDER BY ordinal_position", (schema, name))
        return [r[0] for r in cur.fetchall()]


def pg_hashes(pg_conn, schema: str, name: str, columns: Sequence[str], present: Sequence[str],
              key_columns: Sequence[str]) -> Iterator[tuple[tuple, bytes]]:
    """(key, hash) per row of a PostgreSQL table, through a server-side cursor; a column the table lacks
    reads as NULL."""
    have = set(present)
    select = ", ".join(quote_ident(c) if c in have else f"NULL AS {quote_ident(c)}" for c in columns)
    # A named cursor needs a transaction; on an autocommit connection it must be WITH HOLD.
    cur = pg_conn.cursor(name=f"cdc_verify_{uuid.uuid4().hex[:12]}", withhold=pg_conn.autocommit)
    cur.itersize = FETCH_ROWS
    try:
        cur.execute(f"SELECT {select} FROM {_pg_relation(schema, name)}")
        yield from hash_rows(cur, columns, key_columns)
    finally:
        cur.close()


def pg_history_duplicates(pg_conn, table_cfg, pg_schema: str = "public", limit: int = DEFAULT_LIMIT) -> tuple[int, list]:
    """(change rows held more than once in <name>_history (same key and _seq), a sample of their keys)."""
    history = table_cfg.name + "_history"
    if pg_columns(pg_conn, pg_schema, history) is None:
        return 0, []
    keys = ", ".join(quote_ident(k) for k in table_cfg.key_columns)
    groups = (f"SELECT {keys}, count(*) - 1 AS extra FROM {_pg_relation(pg_schema, history)} "
              f"GROUP BY {keys}, {quote_ident('_seq')} HAVING count(*) > 1")
    with pg_conn.cursor() as cur:
        cur.execute(f"SELECT coalesce(sum(extra), 0) FROM ({groups}) AS d")
        total = int(cur.fetchone()[0])
        sample = []
        if total:
            cur.execute(f"SELECT DISTINCT {keys} FROM ({groups}) AS d ORDER BY {keys} LIMIT %s", (limit,))
            sample = [normal_row(r) for r in cur.fetchall()]
    return total, sorted(sample, key=key_order)


def pg_history_stale(pg_conn, table_cfg, pg_schema: str = "public", limit: int = DEFAULT_LIMIT) -> tuple[int, list]:
    """(keys whose latest <name>_history entry disagrees with <name>_current, a sample of them)."""
    h_name, c_name = table_cfg.name + "_history", table_cfg.name + "_current"
    if pg_columns(pg_conn, pg_schema, h_name) is None or pg_columns(pg_conn, pg_schema, c_name) is None:
        return 0, []
    keys = [quote_ident(k) for k in table_cfg.key_columns]
    klist = ", ".join(keys)
    on = " AND ".join(f"l.{k} = c.{k}" for k in keys)
    with pg_conn.cursor() as cur:
        cur.execute(f"""
            WITH latest AS (SELECT DISTINCT ON ({klist}) {klist}, _op, _seq FROM {_pg_relation(pg_schema, h_name)}
                            ORDER BY {klist}, _seq DESC),
                 stale AS (SELECT {', '.join(f'COALESCE(l.{k}, c.{k}) AS {k}' for k in keys)}
                           FROM latest l FULL JOIN {_pg_relation(pg_schema, c_name)} c ON {on}
                           WHERE (l._op = 'd' AND c._seq IS NOT NULL)
                              OR (l._op <> 'd' AND c._seq IS DISTINCT FROM l._seq)
                              OR l._seq IS NULL)
            SELECT {klist}, count(*) OVER () FROM stale ORDER BY {klist} LIMIT %s""", (limit,))
        rows = cur.fetchall()
    return (rows[0][-1] if rows else 0), sorted((normal_row(r[:-1]) for r in rows), key=key_order)


def history_duplicates(pg_conn, table_cfg, pg_schema="public") -> int:
    """Changes held more than once in <name>_history (same key and sequence)."""
    return pg_history_duplicates(pg_conn, table_cfg, pg_schema)[0]


def history_matches_current(pg_conn, table_cfg, pg_schema="public", limit: int = 20) -> list:
    """Keys whose latest history entry disagrees with the current table (present/absent or _seq)."""
    return pg_history_stale(pg_conn, table_cfg, pg_schema, limit)[1]


# --- reading Iceberg ----------------------------------------------------------------------------------


def _spark_ident(iceberg_cfg, name: str) -> str:
    return ".".join("`" + p.replace("`", "``") + "`" for p in (iceberg_cfg.catalog_name, iceberg_cfg.namespace, name))


def _iceberg_exists(spark, iceberg_cfg, name: str) -> bool:
    return spark.catalog.tableExists(f"{iceberg_cfg.catalog_name}.{iceberg_cfg.namespace}.{name}")


def _local_to_utc(value):
    # PySpark turns a TIMESTAMP (with local time zone) into a naive datetime in this process's local time.
    return value.astimezone(timezone.utc) if isinstance(value, datetime) and value.tzinfo is None else value


def iceberg_hashes(spark, iceberg_cfg, name: str, columns: Sequence[str], key_columns: Sequence[str],
                   notes: list | None = None) -> Iterator[tuple[tuple, bytes]]:
    """(key, hash) per row of an Iceberg table, streamed to the driver a partition at a time."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    frame = spark.table(_spark_ident(iceberg_cfg, name))
    present = {f.name.lower(): f.name for f in frame.schema.fields}
    lacking = [c for c in columns if c.lower() not in present]
    if lacking and notes is not None:
        notes.append(f"{name} lacks column(s) {', '.join(lacking)} (compared as NULL)")
    frame = frame.select(*[F.col("`" + present[c.lower()].replace("`", "``") + "`").alias(c) if c.lower() in present
                           else F.lit(None).alias(c) for c in columns])
    local = [isinstance(f.dataType, TimestampType) for f in frame.schema.fields]
    rows = (tuple(_local_to_utc(v) if is_local else v for v, is_local in zip(row, local))
            for row in frame.toLocalIterator())
    yield from hash_rows(rows, columns, key_columns)


def iceberg_history_duplicates(spark, iceberg_cfg, table_cfg, limit: int = DEFAULT_LIMIT) -> tuple[int, list]:
    """(change rows held more than once in Iceberg <name>_changes (same key and _seq), a sample of keys)."""
    name = table_cfg.name + "_changes"
    if not _iceberg_exists(spark, iceberg_cfg, name):
        return 0, []
    keys = ", ".join(f"`{k}`" for k in table_cfg.key_columns)
    groups = (f"SELECT {keys}, count(*) - 1 AS extra FROM {_spark_ident(iceberg_cfg, name)} "
              f"GROUP BY {keys}, _seq HAVING count(*) > 1")
    total = spark.sql(f"SELECT coalesce(sum(extra), 0) AS n FROM ({groups})").first()["n"]
    sample = []
    if total:
        sample = [normal_row(r) for r in spark.sql(f"SELECT DISTINCT {keys} FROM ({groups}) ORDER BY {keys} "
                                                   f"LIMIT {int(limit)}").collect()]
    return int(total), sorted(sample, key=key_order)


def iceberg_history_stale(spark, iceberg_cfg, table_cfg, limit: int = DEFAULT_LIMIT) -> tuple[int, list]:
    """(keys whose latest change in <name>_changes disagrees with <name>_current, a sample of them)."""
    changes, current = table_cfg.name + "_changes", table_cfg.name + "_current"
    if not (_iceberg_exists(spark, iceberg_cfg, changes) and _iceberg_exists(spark, iceberg_cfg, current)):
        return 0, []
    keys = [f"`{k}`" for k in table_cfg.key_columns]
    klist = ", ".join(keys)
    stale = spark.sql(f"""
        WITH ranked AS (SELECT {klist}, _op, _seq,
                               row_number() OVER (PARTITION BY {klist} ORDER BY _seq DESC) AS _rank
                        FROM {_spark_ident(iceberg_cfg, changes)}),
             latest AS (SELECT {klist}, _op, _seq FROM ranked WHERE _rank = 1),
             cur AS (SELECT {klist}, _seq FROM {_spark_ident(iceberg_cfg, current)})
        SELECT {', '.join(f'coalesce(l.{k}, c.{k}) AS {k}' for k in keys)}
        FROM latest l FULL OUTER JOIN cur c ON {' AND '.join(f'l.{k} = c.{k}' for k in keys)}
        WHERE (l._op = 'd' AND c._seq IS NOT NULL)
           OR (l._op <> 'd' AND NOT (c._seq <=> l._seq))
           OR l._seq IS NULL""")
    stale.cache()
    try:
        total = stale.count()
        sample = [normal_row(r) for r in stale.orderBy(*keys).limit(int(limit)).collect()] if total else []
    finally:
        stale.unpersist()
    return total, sorted(sample, key=key_order)


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
    reports = []
    if pg_conn is not None and "postgres" in table_cfg.sinks:
        name = table_cfg.name + "_current"
        present = pg_columns(pg_conn, pg_schema, name)
        if present is None:
            report = compare(table_cfg.name, "postgres", source, (), keys)
            report.notes.append(f"table {pg_schema}.{name} does not exist")
        else:
            report = compare(table_cfg.name, "postgres", source,
                             pg_hashes(pg_conn, pg_schema, name, columns, present, keys), keys)
            lacking = [c for c in columns if c not in present]
            if lacking:
                report.notes.append(f"{name} lacks column(s) {', '.join(lacking)} (compared as NULL)")
        if history:
            report.history_duplicates, report.history_duplicate_keys = pg_history_duplicates(
                pg_conn, table_cfg, pg_schema, limit)
            report.history_stale, report.history_stale_keys = pg_history_stale(pg_conn, table_cfg, pg_schema, limit)
        reports.append(report)
    if spark is not None and "iceberg" in table_cfg.sinks:
        name = table_cfg.name + "_current"
        if not _iceberg_exists(spark, iceberg_cfg, name):
            report = compare(table_cfg.name, "iceberg", source, (), keys)
            report.notes.append(f"table {iceberg_cfg.catalog_name}.{iceberg_cfg.namespace}.{name} does not exist")
        else:
            notes: list = []
            report = compare(table_cfg.name, "iceberg", source,
                             iceberg_hashes(spark, iceberg_cfg, name, columns, keys, notes), keys)
            report.notes.extend(notes)
        if history:
            report.history_duplicates, report.history_duplicate_keys = iceberg_history_duplicates(
                spark, iceberg_cfg, table_cfg, limit)
            report.history_stale, report.history_stale_keys = iceberg_history_stale(
                spark, iceberg_cfg, table_cfg, limit)
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
        reports.extend(verify_table(table_cfg, mysql_conn, pg_conn, spark, config.iceberg, config.postgres.schema,
                                    history=True, limit=limit))
    return reports
