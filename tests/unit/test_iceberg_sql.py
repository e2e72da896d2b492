"""The Iceberg sink's Spark SQL, without Spark: quoting, the guards each statement carries, and that
every column of the vocabulary's metadata reaches the right table."""
from __future__ import annotations

import re

from cdc_pipeline.debezium import Column
from cdc_pipeline.sinks import iceberg_sql as sql
from cdc_pipeline.vocabulary import CHANGES_META, CURRENT_META

SOURCE = ["id", "we`ird", "balance"]
SINCE = "TIMESTAMP '2026-01-01 00:00:00.000000'"


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_identifiers_are_backquoted_with_backquotes_doubled():
    assert sql.quote("we`ird") == "`we``ird`"
    assert sql.column_ddl(Column("we`ird", "smallint", False)) == "`we``ird` int NOT NULL"
    assert sql.column_ddl(Column("d", "decimal(18,2)", True)) == "`d` decimal(18,2)"


def test_create_table_carries_partitioning_and_properties():
    text = sql.create_table_sql("`lake`.`cdc`.`t_current`", [Column("id", "bigint", False)], CURRENT_META,
                                sql.current_partitioning(["id"]), {"format-version": "2"})
    assert text.startswith("CREATE TABLE IF NOT EXISTS `lake`.`cdc`.`t_current` (`id` bigint NOT NULL, `_op` string NOT NULL")
    assert text.endswith("USING iceberg PARTITIONED BY (bucket(16, `id`)) TBLPROPERTIES ('format-version'='2')")


def test_the_change_log_append_reads_nothing_without_rows_at_or_below_the_high_water_mark():
    text = squash(sql.changes_append_sql("`c`.`n`.`t_changes`", "v", SOURCE, ["id", "we`ird"], SINCE, None))
    inserted = ", ".join(sql.quote(c) for c in (*SOURCE, *(c.name for c in CHANGES_META)))
    assert text == f"INSERT INTO `c`.`n`.`t_changes` ({inserted}) SELECT {inserted} FROM v"


def test_the_change_log_append_looks_up_only_rows_at_or_below_the_high_water_mark():
    text = squash(sql.changes_append_sql("`c`.`n`.`t_changes`", "v", SOURCE, ["id", "we`ird"], SINCE, 12345))
    mark = "CAST('12345' AS DECIMAL(38,0))"
    assert f"FROM v WHERE _seq > {mark} UNION ALL" in text
    assert (f"FROM v s WHERE s._seq <= {mark} AND NOT EXISTS (SELECT 1 FROM `c`.`n`.`t_changes` t "
            "WHERE t._source_ts >= TIMESTAMP '2026-01-01 00:00:00.000000' AND t._source_ts = s._source_ts "
            "AND t._seq = s._seq AND t.`id` = s.`id` AND t.`we``ird` = s.`we``ird`)") in text
    assert "MERGE" not in text and "UPDATE" not in text  # an append: nothing already there is touched


def test_the_latest_change_per_key_skips_keys_with_a_newer_logged_change():
    text = squash(sql.latest_change_sql("v_all", "`c`.`n`.`t_changes`", ["id"], SINCE, 99))
    assert "row_number() OVER (PARTITION BY `id` ORDER BY `_seq` DESC, `_kafka_offset` DESC) AS _rank" in text
    assert ("WHERE _rank = 1 AND (r._seq > CAST('99' AS DECIMAL(38,0)) OR NOT EXISTS ( "
            "SELECT 1 FROM `c`.`n`.`t_changes` c") in text
    assert "c.`id` = r.`id` AND c._seq > r._seq" in text
    plain = squash(sql.latest_change_sql("v_all", "`c`.`n`.`t_changes`", ["id"], SINCE, None))
    assert plain.endswith("WHERE _rank = 1") and "t_changes" not in plain


def test_the_current_merge_never_lets_an_older_change_win():
    text = squash(sql.current_merge_sql("`c`.`n`.`t_current`", "v", SOURCE, ["id"]))
    assert "WHEN MATCHED AND s._op = 'd' AND s._seq > t._seq THEN DELETE" in text
    assert "WHEN MATCHED AND s._op <> 'd' AND s._seq > t._seq THEN UPDATE SET" in text
    assert "WHEN NOT MATCHED AND s._op <> 'd' THEN INSERT" in text
    for name in (*SOURCE, *(c.name for c in CURRENT_META)):
        assert f"t.{sql.quote(name)} = s.{sql.quote(name)}" in text
    assert "_kafka_offset" not in text.split("UPDATE SET")[1]  # _current keeps only CURRENT_META
