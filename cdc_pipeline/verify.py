"""Consistency check: every configured MySQL table against its Iceberg and PostgreSQL current tables
(row counts and a per-key comparison of all columns), and each history holding each change once.

Values are compared in one normal form (batch.canonical_string, instants in UTC), so a DECIMAL, a
DATETIME(6) or a TIMESTAMP must match to the last digit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .batch import canonical_string
from .pg_sql import quote_ident


@dataclass
class TableReport:
    table: str
    sink: str
    source_rows: int
    sink_rows: int
    missing: list = field(default_factory=list)  # keys in MySQL, not in the sink
    extra: list = field(default_factory=list)  # keys in the sink, not in MySQL
    different: list = field(default_factory=list)  # keys whose values differ

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different) and self.source_rows == self.sink_rows

    def describe(self, limit: int = 10) -> str:
        return (f"{self.table} vs {self.sink}: {self.source_rows} vs {self.sink_rows} rows; "
                f"missing {self.missing[:limit]}, extra {self.extra[:limit]}, different {self.different[:limit]}")


def normal(value) -> str | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return canonical_string(value)


def mysql_columns(mysql_conn, db: str, table: str) -> list[str]:
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position", (db, table))
        return [r[0] for r in cur.fetchall()]


def _keyed(rows, columns: list[str], key_columns) -> dict:
    idx = [columns.index(k) for k in key_columns]
    out = {}
    for row in rows:
        norm = tuple(normal(v) for v in row)
        out[tuple(norm[i] for i in idx)] = norm
    return out


def compare(table: str, sink: str, source: dict, target: dict) -> TableReport:
    report = TableReport(table, sink, len(source), len(target))
    report.missing = sorted(set(source) - set(target))
    report.extra = sorted(set(target) - set(source))
    report.different = sorted(k for k in set(source) & set(target) if source[k] != target[k])
    return report


def source_table_of(topic: str) -> tuple[str, str]:
    """'<prefix>.<db>.<table>' -> (db, table)."""
    parts = topic.split(".")
    return parts[-2], parts[-1]


def verify_table(table_cfg, mysql_conn, pg_conn=None, spark=None, iceberg_cfg=None, pg_schema="public"):
    db, table = source_table_of(table_cfg.topic)
    columns = mysql_columns(mysql_conn, db, table)
    col_list = ", ".join(f"`{c}`" for c in columns)
    with mysql_conn.cursor() as cur:
        cur.execute(f"SELECT {col_list} FROM `{db}`.`{table}`")
        source = _keyed(cur.fetchall(), columns, table_cfg.key_columns)
    reports = []
    if pg_conn is not None and "postgres" in table_cfg.sinks:
        rows = _pg_rows(pg_conn, f"SELECT {', '.join(quote_ident(c) for c in columns)} "
                                 f"FROM {quote_ident(pg_schema)}.{quote_ident(table_cfg.name + '_current')}")
        reports.append(compare(table_cfg.name, "postgres", source, _keyed(rows, columns, table_cfg.key_columns)))
    if spark is not None and "iceberg" in table_cfg.sinks:
        ident = f"{iceberg_cfg.catalog_name}.{iceberg_cfg.namespace}.{table_cfg.name}_current"
        rows = [tuple(r) for r in spark.table(ident).select(*columns).collect()] \
            if spark.catalog.tableExists(ident) else []
        reports.append(compare(table_cfg.name, "iceberg", source, _keyed(rows, columns, table_cfg.key_columns)))
    return reports


def _pg_rows(pg_conn, sql: str) -> list:
    """Rows of a query on a sink table; none while the job has not created the table."""
    import psycopg2
    try:
        with pg_conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn):
        pg_conn.rollback()
        return []


def history_duplicates(pg_conn, table_cfg, pg_schema="public") -> int:
    """Changes held more than once in <name>_history (same key and sequence)."""
    keys = ", ".join(quote_ident(k) for k in table_cfg.key_columns)
    with pg_conn.cursor() as cur:
        cur.execute(f"SELECT count(*) - count(DISTINCT ({keys}, _seq)) "
                    f"FROM {quote_ident(pg_schema)}.{quote_ident(table_cfg.name + '_history')}")
        return cur.fetchone()[0]


def history_matches_current(pg_conn, table_cfg, pg_schema="public") -> list:
    """Keys whose latest history entry disagrees with the current table (present/absent or _seq)."""
    keys = [quote_ident(k) for k in table_cfg.key_columns]
    h = f"{quote_ident(pg_schema)}.{quote_ident(table_cfg.name + '_history')}"
    c = f"{quote_ident(pg_schema)}.{quote_ident(table_cfg.name + '_current')}"
    on = " AND ".join(f"l.{k} = c.{k}" for k in keys)
    with pg_conn.cursor() as cur:
        cur.execute(f"""
            WITH latest AS (SELECT DISTINCT ON ({', '.join(keys)}) {', '.join(keys)}, _op, _seq FROM {h}
                            ORDER BY {', '.join(keys)}, _seq DESC)
            SELECT {', '.join('l.' + k for k in keys)} FROM latest l FULL JOIN {c} c ON {on}
            WHERE (l._op = 'd' AND c._seq IS NOT NULL) OR (l._op <> 'd' AND c._seq IS DISTINCT FROM l._seq)
               OR l._seq IS NULL
            LIMIT 20""")
        return cur.fetchall()
