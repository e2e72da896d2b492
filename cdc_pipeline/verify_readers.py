"""What `make verify` reads: every row of a MySQL table and of the sinks' tables, in one normal form,
hashed per key as it streams in (MySQL unbuffered cursor, PostgreSQL server-side cursor, Iceberg
`toLocalIterator`), so memory holds one key and 32-byte digest per row, never the rows; and the
history checks each sink runs in its own SQL (cdc_pipeline.verify compares and reports).

Normal form (`normal`): batch.canonical_string, instants in UTC; a DECIMAL, a DATETIME(6) or a TIMESTAMP
must match to the last digit. The hash is computed in Python for all three sides.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

from .batch import canonical_string
from .errors import PipelineError
from .sinks.postgres_sql import quote_ident
from .vocabulary import METADATA_NAMES, VERSION_COLUMNS, changes_table, current_table, history_table, versions_table

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
    history = history_table(table_cfg.name)
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
    h_name, c_name = history_table(table_cfg.name), table_cfg.name + "_current"
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


def _compared_columns(versions: Sequence[str], current: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The source columns a live version and the current row both have (keys aside)."""
    own = set(VERSION_COLUMNS) | METADATA_NAMES | set(keys)
    return [c for c in versions if c in set(current) and c not in own]


def pg_versions_stale(pg_conn, table_cfg, pg_schema: str = "public",
                      limit: int = DEFAULT_LIMIT) -> tuple[int | None, list]:
    """(keys whose live version in <name>_versions disagrees with <name>_current: one without the other,
    another `_seq` or another value; a sample of them). None when the view or the table does not exist."""
    v_name, c_name = versions_table(table_cfg.name), current_table(table_cfg.name)
    versions, current = pg_columns(pg_conn, pg_schema, v_name), pg_columns(pg_conn, pg_schema, c_name)
    if versions is None or current is None:
        return None, []
    keys = [quote_ident(k) for k in table_cfg.key_columns]
    klist = ", ".join(keys)
    differs = " OR ".join(f"l.{quote_ident(c)} IS DISTINCT FROM c.{quote_ident(c)}"
                          for c in ("_seq", *_compared_columns(versions, current, table_cfg.key_columns)))
    with pg_conn.cursor() as cur:
        cur.execute(f"""
            WITH live AS (SELECT * FROM {_pg_relation(pg_schema, v_name)} WHERE is_current),
                 stale AS (SELECT {', '.join(f'COALESCE(l.{k}, c.{k}) AS {k}' for k in keys)}
                           FROM live l FULL JOIN {_pg_relation(pg_schema, c_name)} c
                                ON {' AND '.join(f'l.{k} = c.{k}' for k in keys)}
                           WHERE {differs})
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
    name = changes_table(table_cfg.name)
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


def _count_and_sample(keys_frame, keys: Sequence[str], limit: int) -> tuple[int, list]:
    """(rows of a Spark frame of keys, the first `limit` of them in key order), reading it once."""
    keys_frame.cache()
    try:
        total = keys_frame.count()
        sample = [normal_row(r) for r in keys_frame.orderBy(*keys).limit(int(limit)).collect()] if total else []
    finally:
        keys_frame.unpersist()
    return total, sorted(sample, key=key_order)


def iceberg_versions_stale(spark, iceberg_cfg, table_cfg, limit: int = DEFAULT_LIMIT) -> tuple[int | None, list]:
    """pg_versions_stale for Iceberg's <name>_versions view and <name>_current."""
    v_name, c_name = versions_table(table_cfg.name), current_table(table_cfg.name)
    from pyspark.errors import AnalysisException
    try:
        versions = spark.table(_spark_ident(iceberg_cfg, v_name)).columns
    except AnalysisException as err:
        if "TABLE_OR_VIEW_NOT_FOUND" in str(err) or "not found" in str(err).lower():
            return None, []  # not created yet, or a catalog without views
        raise  # a view that exists but does not resolve is a finding, not an absence
    if not _iceberg_exists(spark, iceberg_cfg, c_name):
        return None, []
    current = spark.table(_spark_ident(iceberg_cfg, c_name)).columns
    from .sinks.iceberg_sql import quote
    keys = [quote(k) for k in table_cfg.key_columns]
    differs = " OR ".join(f"NOT (l.{quote(c)} <=> c.{quote(c)})"
                          for c in ("_seq", *_compared_columns(versions, current, table_cfg.key_columns)))
    stale = spark.sql(f"""
        SELECT {', '.join(f'coalesce(l.{k}, c.{k}) AS {k}' for k in keys)}
        FROM (SELECT * FROM {_spark_ident(iceberg_cfg, v_name)} WHERE is_current) l
        FULL OUTER JOIN {_spark_ident(iceberg_cfg, c_name)} c ON {' AND '.join(f'l.{k} = c.{k}' for k in keys)}
        WHERE {differs}""")
    return _count_and_sample(stale, keys, limit)


def iceberg_history_stale(spark, iceberg_cfg, table_cfg, limit: int = DEFAULT_LIMIT) -> tuple[int, list]:
    """(keys whose latest change in <name>_changes disagrees with <name>_current, a sample of them)."""
    changes, current = changes_table(table_cfg.name), current_table(table_cfg.name)
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
    return _count_and_sample(stale, keys, limit)


