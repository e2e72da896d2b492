"""Spark SQL statements of the Iceberg sink, as pure functions returning SQL text (Spark's backquoted
identifiers). `target` and `changes` are fully qualified, already quoted table names; `view` and
`source` are temp views of the batch's typed changes; `since` is a TIMESTAMP literal: no change the
batch can meet in `<name>_changes` is older than the batch's oldest commit time, so files and
partitions (days(_source_ts)) are pruned on it. `high_water_mark` is the largest `_seq` of
`<name>_changes` when the batch holds a change at or below it (else None: nothing needs a look-up).
"""
from __future__ import annotations

from collections.abc import Sequence

from ..debezium import Column
from ..vocabulary import CHANGES_META, CURRENT_META, latest_first


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ddl_type(spark_type: str) -> str:
    # Iceberg has no 8/16-bit integers: they are stored as int (Spark widens on write).
    return "int" if spark_type in ("tinyint", "smallint") else spark_type


def column_ddl(col: Column) -> str:
    return f"{quote(col.name)} {ddl_type(col.type)}" + ("" if col.nullable else " NOT NULL")


def current_partitioning(key_columns: Sequence[str]) -> str:
    return f"bucket(16, {quote(key_columns[0])})"


CHANGES_PARTITIONING = "days(_source_ts)"


def create_table_sql(target: str, columns: Sequence[Column], meta: Sequence[Column], partitioning: str,
                     properties: dict[str, str]) -> str:
    props = ", ".join(f"'{k}'='{v}'" for k, v in properties.items())
    return (f"CREATE TABLE IF NOT EXISTS {target} "
            f"({', '.join(column_ddl(c) for c in (*columns, *meta))}) USING iceberg "
            f"PARTITIONED BY ({partitioning}) TBLPROPERTIES ({props})")


def key_match(key_columns: Sequence[str], left: str = "t", right: str = "s") -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in key_columns)


def seq_literal(seq: int) -> str:
    return f"CAST('{int(seq)}' AS DECIMAL(38,0))"


def change_logged(changes: str, key_columns: Sequence[str], since: str, row: str = "s") -> str:
    """The change `row` is already in <name>_changes (same key, `_seq` and commit time)."""
    return (f"EXISTS (SELECT 1 FROM {changes} t WHERE t._source_ts >= {since} AND t._source_ts = {row}._source_ts "
            f"AND t._seq = {row}._seq AND {key_match(key_columns, 't', row)})")


def changes_append_sql(changes: str, view: str, source_columns: Sequence[str], key_columns: Sequence[str],
                       since: str, high_water_mark: int | None) -> str:
    """Append the batch's changes to <name>_changes, each (key, _seq) once.

    Kafka Connect may deliver a change twice (at different offsets) after a crash. A re-sent change
    was written before, so its `_seq` is at or below the table's high-water mark (the largest `_seq` it
    holds): only those rows are looked up in the table; with no such row in the batch (`high_water_mark`
    None, the common case) the append reads nothing."""
    all_cols = ", ".join(quote(c) for c in (*source_columns, *(c.name for c in CHANGES_META)))
    insert = f"INSERT INTO {changes} ({all_cols})"
    if high_water_mark is None:
        return f"{insert} SELECT {all_cols} FROM {view}"
    hwm = seq_literal(high_water_mark)
    return f"""{insert}
                SELECT {all_cols} FROM {view} WHERE _seq > {hwm}
                UNION ALL
                SELECT {all_cols} FROM {view} s
                WHERE s._seq <= {hwm} AND NOT {change_logged(changes, key_columns, since)}"""


def latest_change_sql(source: str, changes: str, key_columns: Sequence[str], since: str,
                      high_water_mark: int | None) -> str:
    """The last change per key of the batch, unless <name>_changes already holds a newer change of that
    key: _current forgets deleted keys, so an old insert that Kafka Connect re-sends after the key's
    delete was applied would otherwise bring the row back (the sequence guard of the MERGE has no row
    to compare with). Only a change at or below the change log's high-water mark before this batch
    can have a newer logged change; with none in the batch (`high_water_mark` None) nothing is read."""
    partition_keys = ", ".join(quote(k) for k in key_columns)
    latest = f"""
                SELECT * FROM (
                  SELECT *, row_number() OVER (PARTITION BY {partition_keys}
                                               ORDER BY {latest_first(quote)}) AS _rank
                  FROM {source}) r
                WHERE _rank = 1"""
    if high_water_mark is None:
        return latest
    return latest + f""" AND (r._seq > {seq_literal(high_water_mark)} OR NOT EXISTS (
                  SELECT 1 FROM {changes} c
                  WHERE c._source_ts >= {since} AND {key_match(key_columns, 'c', 'r')} AND c._seq > r._seq))"""


def current_merge_sql(current: str, view: str, source_columns: Sequence[str], key_columns: Sequence[str]) -> str:
    """Apply each key's latest change to <name>_current; an older change never overwrites a newer one."""
    cols = [*source_columns, *(c.name for c in CURRENT_META)]
    return f"""
                MERGE INTO {current} t USING {view} s ON {key_match(key_columns)}
                WHEN MATCHED AND s._op = 'd' AND s._seq > t._seq THEN DELETE
                WHEN MATCHED AND s._op <> 'd' AND s._seq > t._seq THEN
                  UPDATE SET {', '.join(f't.{quote(c)} = s.{quote(c)}' for c in cols)}
                WHEN NOT MATCHED AND s._op <> 'd' THEN
                  INSERT ({', '.join(quote(c) for c in cols)}) VALUES ({', '.join('s.' + quote(c) for c in cols)})
            """
