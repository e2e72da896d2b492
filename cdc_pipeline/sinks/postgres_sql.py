"""PostgreSQL statements for the warehouse sink, as pure functions returning SQL text.

Tables per source table `<name>` (shape of postgres-dw-init/01-bankdw.sql):
    <name>_history   every change once: metadata + the row image (for a delete: the deleted row)
    <name>_current   one row per key, equal to the MySQL table
    <name>_versions  a view: one row per version of a key (SCD type 2) over <name>_history
    user_account_stats (or the configured stats table), recomputed for the keys a batch touched

Batches are applied from a staging table with the source columns plus metadata.METADATA_COLUMNS
(create_staging_table_sql). In ONE transaction, in this order:
    0. staged_rows_sql           - every record of the batch is staged (else the batch fails)
    1. insert_history_sql        - every change once (replays skipped)
    2. upsert_current_sql        - the last change per key; never lets an older change win
    3. recompute_user_stats_sql  - for tables with stats; reads <name>_current, so after step 2
    4. the batch's row in the progress table, then delete the batch's staging rows, COMMIT
Each statement filters the staging table on `_batch_id = <batch_id>` when batch_id is given (several
attempts of a batch, or several batches, may share the table) and tolerates duplicate staging rows.

Conventions: every identifier goes through quote_ident; `table` is always the sink base name (the
functions add `_history` / `_current`); `schema` qualifies the sink tables, while the staging table
is used as given (unqualified: found through search_path, so a TEMPORARY table works). Statements carry
no bind parameters (batch ids are validated integers written as literals), so they run unchanged
through psycopg2 or JDBC. A function returning several statements separates them with ";\n"; "" means
nothing to do.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..debezium import Column
from ..errors import SchemaError
from ..vocabulary import (CHANGE_IDENTITY, INTEGER_RANK, MAX_IDENTIFIER_BYTES, METADATA_COLUMNS, METADATA_NAMES,
                          SIMPLE_TYPES, check_source_columns, current_table, history_table, is_safe_widening,
                          latest_first, parse_spark_type, shortened, versions_select, versions_table)



# --- quoting ------------------------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier in double quotes, inner double quotes doubled: we"ird -> "we""ird"."""
    if not isinstance(name, str) or not name:
        raise SchemaError(f"an identifier must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise SchemaError(f"an identifier cannot contain NUL, got {name!r}")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise SchemaError(
            f"identifier {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes; PostgreSQL would truncate it"
        )
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A string literal in single quotes, inner quotes doubled (standard_conforming_strings = on)."""
    if not isinstance(text, str) or "\x00" in text:
        raise SchemaError(f"a string literal must be a str without NUL, got {text!r}")
    return "'" + text.replace("'", "''") + "'"


def qualified(name: str, schema: str | None = None) -> str:
    return quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"


def _object_name(base: str, suffix: str) -> str:
    """A constraint/index name `<base>_<suffix>` that fits 63 bytes (shortened with a hash if needed)."""
    name = f"{base}_{suffix}"
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    return f"{shortened(base, MAX_IDENTIFIER_BYTES - len(suffix) - 1)}_{suffix}"


def _batch_literal(batch_id: int) -> str:
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or batch_id < 0:
        raise ValueError(f"batch_id must be a non-negative integer, got {batch_id!r}")
    return str(batch_id)


# --- types --------------------------------------------------------------------------------------------

_SIMPLE_PG = {
    "tinyint": "smallint",
    "smallint": "smallint",
    "int": "integer",
    "bigint": "bigint",
    "boolean": "boolean",
    "float": "real",
    "double": "double precision",
    "string": "text",
    "binary": "bytea",
    "date": "date",
    "timestamp": "timestamptz(6)",
    "timestamp_ntz": "timestamp(6)",
}
assert set(_SIMPLE_PG) == set(SIMPLE_TYPES)


def pg_type(spark_type: str) -> str:
    """The PostgreSQL column type for a Spark SQL type string."""
    parsed = parse_spark_type(spark_type)
    if parsed[0] == "decimal":
        return f"numeric({parsed[1]},{parsed[2]})"
    return _SIMPLE_PG[parsed[0]]


# --- DDL ----------------------------------------------------------------------------------------------


def _column_defs(columns: Sequence[Column], not_null: Sequence[str] = ()) -> list[str]:
    return [
        f"{quote_ident(c.name)} {pg_type(c.type)}{' NOT NULL' if c.name in not_null else ''}" for c in columns
    ]


def _check_keys(columns: Sequence[Column], key_columns: Sequence[str], what: str) -> None:
    if isinstance(key_columns, str) or not key_columns:
        raise SchemaError(f"{what}: key_columns must be a non-empty list of column names, got {key_columns!r}")
    names = [c.name for c in columns]
    missing = [k for k in key_columns if k not in names]
    if missing:
        raise SchemaError(f"{what}: key column(s) {missing} are not among the columns {names}")


def _statements(*parts: str) -> str:
    return ";\n".join(p for p in parts if p) + ";"


def create_history_table_sql(
    table: str, columns: Sequence[Column], key_columns: Sequence[str] | None = None, *, schema: str | None = None
) -> str:
    """CREATE TABLE IF NOT EXISTS <table>_history (+ its indexes), like 01-bankdw.sql.

    Source columns are nullable (a column added later is null in older rows), except the key columns
    when key_columns is given; then an index (key..., _seq) serves replay checks and key lookups."""
    check_source_columns(columns)
    history = history_table(table)
    target = qualified(history, schema)
    keys = tuple(key_columns or ())
    if keys:
        _check_keys(columns, keys, f"{history}")
    lines = [
        f"{quote_ident('_history_id')} BIGSERIAL PRIMARY KEY",
        f"{quote_ident('_op')} CHAR(1) NOT NULL CHECK ({quote_ident('_op')} IN ('r', 'c', 'u', 'd'))",
        f"{quote_ident('_change_type')} TEXT GENERATED ALWAYS AS ("
        f"CASE {quote_ident('_op')} WHEN 'r' THEN 'SNAPSHOT' WHEN 'c' THEN 'INSERT' "
        "WHEN 'u' THEN 'UPDATE' ELSE 'DELETE' END) STORED",
        f"{quote_ident('_seq')} NUMERIC(38, 0) NOT NULL",
        f"{quote_ident('_source_ts')} TIMESTAMPTZ NOT NULL",
        *_column_defs(columns, keys),
        f"{quote_ident('_before')} JSONB",
        f"{quote_ident('_binlog_file')} TEXT",
        f"{quote_ident('_binlog_pos')} BIGINT",
        f"{quote_ident('_binlog_row')} INTEGER",
        f"{quote_ident('_kafka_topic')} TEXT NOT NULL",
        f"{quote_ident('_kafka_partition')} INTEGER NOT NULL",
        f"{quote_ident('_kafka_offset')} BIGINT NOT NULL",
        f"{quote_ident('_batch_id')} BIGINT NOT NULL",
        f"{quote_ident('_loaded_at')} TIMESTAMPTZ NOT NULL DEFAULT now()",
        f"CONSTRAINT {quote_ident(_object_name(history, 'event_once'))} UNIQUE "
        f"({quote_ident('_kafka_topic')}, {quote_ident('_kafka_partition')}, {quote_ident('_kafka_offset')})",
    ]
    create = f"CREATE TABLE IF NOT EXISTS {target} (\n    " + ",\n    ".join(lines) + "\n)"
    indexes = []
    if keys:
        indexed = ", ".join(quote_ident(k) for k in (*keys, "_seq"))
        indexes.append(f"CREATE INDEX IF NOT EXISTS {quote_ident(_object_name(history, 'key_seq'))} ON {target} ({indexed})")
    indexes.append(
        f"CREATE INDEX IF NOT EXISTS {quote_ident(_object_name(history, 'source_ts'))} ON {target} ({quote_ident('_source_ts')})"
    )
    return _statements(create, *indexes)


def create_current_table_sql(
    table: str, columns: Sequence[Column], key_columns: Sequence[str], *, schema: str | None = None,
    group_by: str | None = None,
) -> str:
    """CREATE TABLE IF NOT EXISTS <table>_current: the source columns, PRIMARY KEY (key_columns), and
    _op, _seq, _source_ts, _batch_id, _loaded_at, like 01-bankdw.sql. With `group_by` (the stats
    column) also the index the per-batch stats recomputation looks keys up by."""
    check_source_columns(columns)
    current = current_table(table)
    _check_keys(columns, key_columns, current)
    lines = [
        *_column_defs(columns, key_columns),
        f"{quote_ident('_op')} CHAR(1) NOT NULL",
        f"{quote_ident('_seq')} NUMERIC(38, 0) NOT NULL",
        f"{quote_ident('_source_ts')} TIMESTAMPTZ NOT NULL",
        f"{quote_ident('_batch_id')} BIGINT NOT NULL",
        f"{quote_ident('_loaded_at')} TIMESTAMPTZ NOT NULL DEFAULT now()",
        f"PRIMARY KEY ({', '.join(quote_ident(k) for k in key_columns)})",
    ]
    target = qualified(current, schema)
    index = ""
    if group_by is not None:
        if group_by not in [c.name for c in columns]:
            raise SchemaError(f"{current}: stats column {group_by!r} is not among the columns")
        index = (f"CREATE INDEX IF NOT EXISTS {quote_ident(_object_name(current, group_by))} "
                 f"ON {target} ({quote_ident(group_by)})")
    return _statements(f"CREATE TABLE IF NOT EXISTS {target} (\n    " + ",\n    ".join(lines) + "\n)", index)


def create_staging_table_sql(
    staging: str, columns: Sequence[Column], *, temporary: bool = False
) -> str:
    """CREATE [TEMPORARY | UNLOGGED] TABLE IF NOT EXISTS <staging>: source columns (nullable) plus
    metadata.METADATA_COLUMNS, with the same PostgreSQL types as the sink tables (`_before` as text;
    the apply statements cast it to jsonb). An index on (_batch_id) keeps per-batch reads cheap."""
    check_source_columns(columns)
    lines = _column_defs(columns) + _column_defs(METADATA_COLUMNS, [c.name for c in METADATA_COLUMNS if not c.nullable])
    kind = "TEMPORARY" if temporary else "UNLOGGED"
    target = quote_ident(staging)
    return _statements(
        f"CREATE {kind} TABLE IF NOT EXISTS {target} (\n    " + ",\n    ".join(lines) + "\n)",
        f"CREATE INDEX IF NOT EXISTS {quote_ident(_object_name(staging, 'batch'))} ON {target} ({quote_ident('_batch_id')})",
    )


def evolve_staging_sql(staging: str, columns: Sequence[Column], widened: Sequence[tuple[str, str, str]] = ()) -> str:
    """Bring an existing staging table to `columns`: ADD COLUMN IF NOT EXISTS for each, and ALTER COLUMN
    TYPE for each (name, old, new) safe widening. Rows of earlier batches are deleted by then, so a
    staging table evolves like the sink tables instead of being recreated."""
    check_source_columns(columns)
    target = quote_ident(staging)
    adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {d}" for d in _column_defs(columns))
    types = [f"ALTER TABLE {target} ALTER COLUMN {quote_ident(name)} TYPE {pg_type(new)}"
             for name, old, new in widened if is_safe_widening(old, new) and pg_type(old) != pg_type(new)]
    return _statements(f"ALTER TABLE {target} {adds}" if columns else "", *types)


def copy_from_stdin_sql(staging: str, column_names: Sequence[str]) -> str:
    """COPY <staging> (<columns>) FROM STDIN in CSV: what the executors stream each partition through
    (every value quoted, NULL as an empty unquoted field: CSV's default)."""
    if not column_names:
        raise SchemaError(f"COPY into {staging!r} needs at least one column")
    return (f"COPY {quote_ident(staging)} ({', '.join(quote_ident(c) for c in column_names)}) "
            "FROM STDIN WITH (FORMAT csv)")


# Spark type name (DataType.typeName()) -> how a value is written as PostgreSQL input text for COPY.
# Numbers, dates and NTZ timestamps: Spark's CAST to string is valid PostgreSQL input (NaN/Infinity
# included); an instant is written with its offset; bytea in hex; booleans as t/f.
COPY_TEXT_FORMS = {
    "string": "as_is", "boolean": "t_f", "binary": "bytea_hex", "timestamp": "instant",
    "byte": "cast", "short": "cast", "integer": "cast", "long": "cast", "float": "cast", "double": "cast",
    "decimal": "cast", "date": "cast", "timestamp_ntz": "cast",
}


def copy_text_form(spark_type_name: str) -> str:
    """The COPY_TEXT_FORMS entry for a Spark type name; a clear error for a type the sink cannot stage."""
    base = spark_type_name.split("(")[0]
    try:
        return COPY_TEXT_FORMS[base]
    except KeyError:
        raise SchemaError(f"no PostgreSQL COPY form for Spark type {spark_type_name!r}") from None


def staged_rows_sql(staging: str, batch_id: int) -> str:
    """How many distinct Kafka records of the batch the staging table holds (a retried COPY task
    stages its rows twice; the apply statements tolerate that, and so does this count)."""
    return (f"SELECT count(DISTINCT ({quote_ident('_kafka_partition')}, {quote_ident('_kafka_offset')})) "
            f"FROM {quote_ident(staging)} WHERE {quote_ident('_batch_id')} = {_batch_literal(batch_id)}")


def delete_staging_sql(staging: str, batch_id: int) -> str:
    """DELETE the batch's rows from the staging table (last step of the batch's transaction)."""
    return f"DELETE FROM {quote_ident(staging)} WHERE {quote_ident('_batch_id')} = {_batch_literal(batch_id)}"


def _user_stats_types(stats_table: str, group_by: Column, sum_column: Column,
                      opened_at_column: Column | None) -> dict[str, str]:
    """The statistics table's columns that follow source columns -> their PostgreSQL types."""
    summed = parse_spark_type(sum_column.type)
    if summed[0] == "decimal":
        total = f"numeric({min(summed[1] + 10, 1000)},{summed[2]})"
    elif summed[0] in INTEGER_RANK:
        total = "numeric(38,0)"
    elif summed[0] in ("float", "double"):
        total = "double precision"
    else:
        raise SchemaError(f"{stats_table}: cannot sum column {sum_column.name!r} of type {sum_column.type!r}")
    return {group_by.name: pg_type(group_by.type), "total_balance": total, "min_balance": pg_type(sum_column.type),
            "max_balance": pg_type(sum_column.type),
            "first_opened_at": pg_type(opened_at_column.type) if opened_at_column else "timestamp(6)"}


def create_user_stats_table_sql(
    stats_table: str,
    group_by: Column,
    sum_column: Column,
    opened_at_column: Column | None = None,
    *,
    schema: str | None = None,
) -> str:
    """CREATE TABLE IF NOT EXISTS for the per-user statistics, like user_account_stats in 01-bankdw.sql.

    total_balance gets 10 more digits than the summed column (numeric(p+10, s)) so a sum cannot overflow."""
    types = _user_stats_types(stats_table, group_by, sum_column, opened_at_column)
    lines = [
        f"{quote_ident(group_by.name)} {types[group_by.name]} PRIMARY KEY",
        f"{quote_ident('account_count')} INTEGER NOT NULL",
        f"{quote_ident('total_balance')} {types['total_balance']} NOT NULL",
        f"{quote_ident('min_balance')} {types['min_balance']}",
        f"{quote_ident('max_balance')} {types['max_balance']}",
        f"{quote_ident('first_opened_at')} {types['first_opened_at']}",
        f"{quote_ident('last_change_ts')} TIMESTAMPTZ",
        f"{quote_ident('_batch_id')} BIGINT NOT NULL",
        f"{quote_ident('_updated_at')} TIMESTAMPTZ NOT NULL DEFAULT now()",
    ]
    return _statements(f"CREATE TABLE IF NOT EXISTS {qualified(stats_table, schema)} (\n    " + ",\n    ".join(lines) + "\n)")


def widen_user_stats_sql(stats_table: str, group_by: Column, sum_column: Column, opened_at_column: Column | None,
                         widened: Sequence[tuple[str, str, str]], *, schema: str | None = None) -> str:
    """ALTER COLUMN ... TYPE on the statistics table for the columns whose source column this batch widened
    (the Column arguments carry the new types): its min/max/total would overflow the old ones. "" when
    none changes."""
    old = {name: old_type for name, old_type, _new in widened}

    def before(col: Column | None) -> Column | None:
        return None if col is None else Column(col.name, old.get(col.name, col.type), col.nullable)

    new_types = _user_stats_types(stats_table, group_by, sum_column, opened_at_column)
    old_types = _user_stats_types(stats_table, before(group_by), before(sum_column), before(opened_at_column))
    follows = {group_by.name: group_by.name, "total_balance": sum_column.name, "min_balance": sum_column.name,
               "max_balance": sum_column.name, "first_opened_at": opened_at_column.name if opened_at_column else None}
    alters = [f"ALTER TABLE {qualified(stats_table, schema)} ALTER COLUMN {quote_ident(column)} TYPE {new_types[column]}"
              for column, source in follows.items() if source in old and new_types[column] != old_types[column]]
    return _statements(*alters) if alters else ""


# --- versions (SCD type 2) ------------------------------------------------------------------------------


def history_source_columns_sql(table: str, schema: str) -> str:
    """The source columns of <table>_history in table order (its metadata columns left out)."""
    meta = ", ".join(quote_literal(n) for n in sorted(METADATA_NAMES))
    return (f"SELECT column_name FROM information_schema.columns WHERE table_schema = {quote_literal(schema)} "
            f"AND table_name = {quote_literal(history_table(table))} AND column_name NOT IN ({meta}) "
            "ORDER BY ordinal_position")


def drop_versions_view_sql(table: str, *, schema: str | None = None) -> str:
    """Before <table>_history's columns change: a column a view reads cannot change its type."""
    return f"DROP VIEW IF EXISTS {qualified(versions_table(table), schema)}"


def create_versions_view_sql(table: str, source_columns: Sequence[str], key_columns: Sequence[str], *,
                             schema: str | None = None) -> str:
    """<table>_versions over <table>_history (vocabulary.versions_select), recreated after every schema
    change (drop_versions_view_sql first); the history's (key, _seq) index serves its window."""
    view = qualified(versions_table(table), schema)
    select = versions_select(qualified(history_table(table), schema), source_columns, key_columns, quote_ident)
    as_of = ("the state as of T: WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T); "
             f"one row per version of each key of {history_table(table)} (SCD type 2)")
    return _statements(f"CREATE VIEW {view} AS\n{select}", f"COMMENT ON VIEW {view} IS {quote_literal(as_of)}")


# --- schema changes -----------------------------------------------------------------------------------


def add_columns_sql(table: str, new_columns: Sequence[Column], *, schema: str | None = None) -> str:
    """ALTER TABLE ... ADD COLUMN IF NOT EXISTS for <table>_history and <table>_current. New columns are
    nullable (older rows have no value). "" when new_columns is empty. The staging table follows with
    evolve_staging_sql."""
    if not new_columns:
        return ""
    check_source_columns(new_columns)
    adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {d}" for d in _column_defs(new_columns))
    return _statements(
        *(f"ALTER TABLE {qualified(name, schema)} {adds}" for name in (history_table(table), current_table(table)))
    )


def alter_type_sql(table: str, column: str, old_type: str, new_type: str, *, schema: str | None = None) -> str:
    """ALTER COLUMN ... TYPE for <table>_history and <table>_current, for a safe widening only.

    Raises SchemaError when the change is not is_safe_widening (a narrowing or a different kind would
    fail or change stored values: it needs a human). "" when the PostgreSQL type does not change
    (e.g. tinyint -> smallint, both smallint). Note int -> bigint rewrites the tables."""
    if not is_safe_widening(old_type, new_type):
        raise SchemaError(
            f"{table}.{column}: changing the type from {old_type} to {new_type} is not a safe widening "
            "(allowed: wider integer, float -> double, decimal with more precision and the same scale)"
        )
    if pg_type(old_type) == pg_type(new_type):
        return ""
    return _statements(
        *(
            f"ALTER TABLE {qualified(name, schema)} ALTER COLUMN {quote_ident(column)} TYPE {pg_type(new_type)}"
            for name in (history_table(table), current_table(table))
        )
    )


# --- applying a batch ---------------------------------------------------------------------------------


def _where(conditions: list[str]) -> str:
    return ("\nWHERE " + "\n  AND ".join(conditions)) if conditions else ""


def _batch_filter(alias: str, batch_id: int | None) -> list[str]:
    return [] if batch_id is None else [f"{alias}.{quote_ident('_batch_id')} = {_batch_literal(batch_id)}"]


def _key_match(left: str, right: str, key_columns: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{quote_ident(k)} = {right}.{quote_ident(k)}" for k in key_columns)


# Aliases and CTE names of the statements below (quoted like every identifier).
_S, _H, _C, _L, _T, _F = (quote_ident(a) for a in ("s", "h", "c", "l", "t", "f"))
_LAST, _DELETED = quote_ident("last_change"), quote_ident("deleted")
_TOUCHED, _FRESH, _GONE, _K = quote_ident("touched"), quote_ident("fresh"), quote_ident("gone"), quote_ident("k")


def insert_history_sql(
    table: str,
    staging: str,
    columns: Sequence[Column],
    key_columns: Sequence[str] | None = None,
    *,
    batch_id: int | None = None,
    schema: str | None = None,
) -> str:
    """INSERT every change of the batch into <table>_history, each change once.

    ON CONFLICT on the Kafka coordinates DO NOTHING skips an event loaded before (a replayed batch).
    With key_columns (pass them!), a change is also skipped when the history already holds the same
    (key, _seq) - Kafka Connect re-sends changes after a crash at NEW offsets, which the coordinates
    cannot catch - and duplicates inside the batch keep the one with the lowest offset."""
    check_source_columns(columns)
    history = qualified(history_table(table), schema)
    source_names = [c.name for c in columns]
    target_columns = ["_op", "_seq", "_source_ts", *source_names, "_before", "_binlog_file", "_binlog_pos",
                      "_binlog_row", "_kafka_topic", "_kafka_partition", "_kafka_offset", "_batch_id"]
    select = [
        f"CAST({_S}.{quote_ident(n)} AS jsonb)" if n == "_before" else f"{_S}.{quote_ident(n)}" for n in target_columns
    ]
    offset = quote_ident("_kafka_offset")
    conditions = _batch_filter(_S, batch_id)
    distinct = order = ""
    if key_columns:
        _check_keys(columns, key_columns, history_table(table))
        keys = [f"{_S}.{quote_ident(k)}" for k in key_columns]
        identity = [*keys, *(f"{_S}.{quote_ident(c)}" for c in CHANGE_IDENTITY)]
        distinct = f"DISTINCT ON ({', '.join(identity)}) "
        order = f"\nORDER BY {', '.join(identity)}, {_S}.{offset}"
        same_change = " AND ".join(f"{_H}.{quote_ident(c)} = {_S}.{quote_ident(c)}" for c in CHANGE_IDENTITY)
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {history} AS {_H} WHERE {_key_match(_H, _S, key_columns)} "
            f"AND {same_change})"
        )
    return (
        f"INSERT INTO {history} ({', '.join(quote_ident(n) for n in target_columns)})\n"
        f"SELECT {distinct}{', '.join(select)}\n"
        f"FROM {quote_ident(staging)} AS {_S}"
        f"{_where(conditions)}{order}\n"
        f"ON CONFLICT ({quote_ident('_kafka_topic')}, {quote_ident('_kafka_partition')}, {offset}) DO NOTHING"
    )


def upsert_current_sql(
    table: str,
    staging: str,
    columns: Sequence[Column],
    key_columns: Sequence[str],
    *,
    batch_id: int | None = None,
    schema: str | None = None,
    history_guard: bool = True,
) -> str:
    """Apply the last change per key of the batch to <table>_current, as ONE statement.

    - last_change: per key, the staging row with the largest (_seq, _kafka_offset) (DISTINCT ON).
    - deletes: DELETE the current row when its _seq <= the delete's _seq; a row with a NEWER _seq
      stays (the delete is older than what is there).
    - r/c/u: INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE current._seq < EXCLUDED._seq, so an
      older or replayed change never overwrites a newer one. An absent row is inserted - which is how
      a key deleted in an earlier batch comes back when MySQL re-inserts it.
    - history_guard: the current table forgets deleted keys, so an OLD insert re-sent after the key's
      delete was applied would bring the row back. With the guard, an r/c/u is not applied when
      <table>_history already holds a change of that key with a larger _seq (run insert_history_sql
      first, in the same transaction). The final state of a key is then decided by its latest change.
    The DELETE (a data-modifying CTE) and the INSERT touch disjoint keys, so one statement is safe.
    """
    check_source_columns(columns)
    current_name = current_table(table)
    _check_keys(columns, key_columns, current_name)
    current = qualified(current_name, schema)
    names = [c.name for c in columns]
    meta = ["_op", "_seq", "_source_ts", "_batch_id"]
    keys = [f"{_S}.{quote_ident(k)}" for k in key_columns]
    seq, op = quote_ident("_seq"), quote_ident("_op")
    last = (
        f"SELECT DISTINCT ON ({', '.join(keys)}) {', '.join(f'{_S}.{quote_ident(n)}' for n in (*names, *meta))}\n"
        f"    FROM {quote_ident(staging)} AS {_S}"
        + "".join(f"\n    WHERE {c}" for c in _batch_filter(_S, batch_id))
        + f"\n    ORDER BY {', '.join(keys)}, {latest_first(quote_ident, _S)}"
    )
    delete = (
        f"DELETE FROM {current} AS {_C} USING {_LAST} AS {_L}\n"
        f"    WHERE {_L}.{op} = 'd' AND {_key_match(_C, _L, key_columns)} AND {_C}.{seq} <= {_L}.{seq}"
    )
    conditions = [f"{_L}.{op} <> 'd'"]
    if history_guard:
        history = qualified(history_table(table), schema)
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {history} AS {_H} WHERE {_key_match(_H, _L, key_columns)} AND {_H}.{seq} > {_L}.{seq})"
        )
    target = [*names, *meta, "_loaded_at"]
    updates = [n for n in target if n not in key_columns]
    return (
        f"WITH {_LAST} AS (\n    {last}\n), {_DELETED} AS (\n    {delete}\n)\n"
        f"INSERT INTO {current} AS {_C} ({', '.join(quote_ident(n) for n in target)})\n"
        f"SELECT {', '.join(f'{_L}.{quote_ident(n)}' for n in (*names, *meta))}, now()\n"
        f"FROM {_LAST} AS {_L}"
        f"{_where(conditions)}\n"
        f"ON CONFLICT ({', '.join(quote_ident(k) for k in key_columns)}) DO UPDATE SET\n    "
        + ",\n    ".join(f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in updates)
        + f"\nWHERE {_C}.{seq} < EXCLUDED.{seq}"
    )


STATS_COLUMNS = ("account_count", "total_balance", "min_balance", "max_balance", "first_opened_at", "last_change_ts")


def recompute_user_stats_sql(
    table: str,
    staging: str,
    columns: Sequence[Column],
    *,
    group_by: str,
    sum_column: str,
    batch_id: int,
    stats_table: str = "user_account_stats",
    opened_at_column: str | None = None,
    schema: str | None = None,
) -> str:
    """Recompute the statistics of every group the batch touched, exactly, from <table>_current.

    Touched groups: the group_by value of each staging row's image (after, or the deleted row) AND of
    its `_before` JSON - an update can move an account from one user to another, and both users change.
    For each touched group with rows in <table>_current: account_count, total_balance (0 for all-null),
    min/max, first_opened_at = min(opened_at_column), last_change_ts = max(_source_ts), upserted. Touched
    groups with no rows left lose their statistics row. One statement; run it after upsert_current_sql
    (the DELETE and the upsert touch disjoint groups).
    """
    check_source_columns(columns)
    by_name = {c.name: c for c in columns}
    for role, name in (("group_by", group_by), ("sum_column", sum_column), ("opened_at_column", opened_at_column)):
        if name is not None and name not in by_name:
            raise SchemaError(f"{stats_table}: {role} column {name!r} is not a column of {table} ({list(by_name)})")
    batch = _batch_literal(batch_id)
    current = qualified(current_table(table), schema)
    stats = qualified(stats_table, schema)
    g, v = quote_ident(group_by), quote_ident(sum_column)
    before_value = f"CAST({_S}.{quote_ident('_before')} AS jsonb) ->> {quote_literal(group_by)}"
    staged = f"FROM {quote_ident(staging)} AS {_S} WHERE {_S}.{quote_ident('_batch_id')} = {batch}"
    opened = f"min({_C}.{quote_ident(opened_at_column)})" if opened_at_column else "NULL"
    q = {n: quote_ident(n) for n in (*STATS_COLUMNS, "_batch_id", "_updated_at", "_source_ts")}
    return (
        f"WITH {_TOUCHED} AS (\n"
        f"    SELECT {_S}.{g} AS {_K} {staged} AND {_S}.{g} IS NOT NULL\n"
        "    UNION\n"
        f"    SELECT CAST({before_value} AS {pg_type(by_name[group_by].type)}) {staged} AND {before_value} IS NOT NULL\n"
        f"), {_FRESH} AS (\n"
        f"    SELECT {_C}.{g} AS {_K}, count(*) AS {q['account_count']}, coalesce(sum({_C}.{v}), 0) AS {q['total_balance']},\n"
        f"           min({_C}.{v}) AS {q['min_balance']}, max({_C}.{v}) AS {q['max_balance']},\n"
        f"           {opened} AS {q['first_opened_at']}, max({_C}.{q['_source_ts']}) AS {q['last_change_ts']}\n"
        f"    FROM {current} AS {_C} WHERE {_C}.{g} IN (SELECT {_K} FROM {_TOUCHED})\n"
        f"    GROUP BY {_C}.{g}\n"
        f"), {_GONE} AS (\n"
        f"    DELETE FROM {stats} AS {_T}\n"
        f"    WHERE {_T}.{g} IN (SELECT {_K} FROM {_TOUCHED})\n"
        f"      AND NOT EXISTS (SELECT 1 FROM {_FRESH} AS {_F} WHERE {_F}.{_K} = {_T}.{g})\n"
        ")\n"
        f"INSERT INTO {stats} AS {_T} ({g}, {', '.join(q[n] for n in STATS_COLUMNS)}, {q['_batch_id']}, {q['_updated_at']})\n"
        f"SELECT {_F}.{_K}, {', '.join(f'{_F}.{q[n]}' for n in STATS_COLUMNS)}, {batch}, now()\n"
        f"FROM {_FRESH} AS {_F}\n"
        f"ON CONFLICT ({g}) DO UPDATE SET\n    "
        + ",\n    ".join(f"{q[n]} = EXCLUDED.{q[n]}" for n in (*STATS_COLUMNS, "_batch_id", "_updated_at"))
    )


def last_batch_sql(batch_table: str, schema: str | None) -> str:
    """The newest applied micro-batch (`make status`)."""
    cols = ", ".join(quote_ident(c) for c in ("query_id", "batch_id", "rows_in", "dead_letters", "committed_at"))
    return (f"SELECT {cols} FROM {qualified(batch_table, schema)} "
            f"ORDER BY {quote_ident('committed_at')} DESC LIMIT 1")


def dead_letter_counts_sql(dead_letter_table: str, schema: str | None) -> str:
    """Dead letters in all and in the last 24 hours (`make status`)."""
    return (f"SELECT count(*), count(*) FILTER (WHERE {quote_ident('failed_at')} > now() - interval '24 hours') "
            f"FROM {qualified(dead_letter_table, schema)}")
