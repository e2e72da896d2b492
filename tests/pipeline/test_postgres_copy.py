"""PostgreSQL staging by COPY (java/postgres-copy from the executors): every Spark type the sinks stage
arrives exactly, with the characters CSV must quote, NULL kept apart from the empty string."""
from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from cdc_pipeline.debezium import Column
from cdc_pipeline.sinks import postgres_sql as pg_sql
from cdc_pipeline.sinks.postgres import copy_into
from pipeline_support import CONFIG
from stack_support import pg_connect

pytestmark = pytest.mark.integration

COLUMNS = [Column("id", "int", False), Column("s", "string", True), Column("b", "boolean", True),
           Column("i8", "tinyint", True), Column("i64", "bigint", True), Column("f", "float", True),
           Column("d", "double", True), Column("n", "decimal(38,10)", True), Column("day", "date", True),
           Column("ts", "timestamp", True), Column("ntz", "timestamp_ntz", True), Column("bin", "binary", True)]
ROWS = [
    (1, 'quote " comma , newline \n cr \r backslash \\ tab \t ünï 😀', True, -128, -(2**63), 1.5, -0.0,
     Decimal("-1234567890123456789012345678.0123456789"), date(1, 1, 1),
     datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, 59, 999999),
     bytes(range(256))),
    (2, "", False, 127, 2**63 - 1, float("inf"), float("nan"), Decimal("0.0000000001"), date(2024, 2, 29),
     datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=timezone.utc), datetime(1900, 1, 1), b""),
    (3, None, None, None, None, None, None, None, None, None, None, None),
    (4, "NULL", True, 0, 0, float("-inf"), 1e-300, Decimal("1E-10"), date(1970, 1, 1),
     datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2000, 1, 1), b'"\n,'),
]


def test_copy_stages_every_type_exactly(lake):
    from pyspark.sql import types as T

    table = f"test_copy_{uuid.uuid4().hex[:8]}"
    schema = T.StructType([T.StructField(c.name, T._parse_datatype_string(c.type), c.nullable) for c in COLUMNS])
    frame = lake.createDataFrame(ROWS, schema).repartition(3)
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {pg_sql.quote_ident(table)} ("
                    + ", ".join(f"{pg_sql.quote_ident(c.name)} {pg_sql.pg_type(c.type)}" for c in COLUMNS) + ")")
    try:
        assert copy_into(frame, table, CONFIG.postgres) == len(ROWS)
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(f"SET TIME ZONE 'UTC'; SELECT * FROM {pg_sql.quote_ident(table)} ORDER BY id")
            got = cur.fetchall()
    finally:
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE {pg_sql.quote_ident(table)}")
    assert len(got) == len(ROWS)
    for want, row in zip(ROWS, got):
        for column, expected, actual in zip(COLUMNS, want, row):
            if column.type == "binary" and actual is not None:
                actual = bytes(actual)
            if isinstance(expected, float) and math.isnan(expected):
                assert math.isnan(actual), (column.name, actual)
            elif column.type == "float" and expected is not None:
                assert actual == pytest.approx(expected), (column.name, actual)
            else:
                assert actual == expected, (want[0], column.name, expected, actual)
