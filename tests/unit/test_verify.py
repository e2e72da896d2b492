"""The consistency checker (`make verify`): normal form, per-key hashes, comparison, report, exit code,
and its MySQL configuration section."""
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cdc_pipeline.config import DEFAULTS, MysqlConfig
from cdc_pipeline.config_loader import load_config
from cdc_pipeline.errors import ConfigError
from cdc_pipeline.verify import (
    TableReport,
    compare,
    exit_code,
    format_key,
    key_dict,
    render_json,
    render_text,
    source_table_of,
)
from cdc_pipeline.verify_readers import (
    VerifyError,
    _keyed,
    hash_rows,
    key_order,
    normal,
    normal_row,
    row_hash,
)

REPO = Path(__file__).resolve().parents[2]
COLS = ["id", "v"]


# --- normal form and hashing --------------------------------------------------------------------------


def test_normal_form_makes_equal_values_equal_and_keeps_differences():
    assert normal(datetime(2024, 1, 1, 9, tzinfo=timezone.utc)) == normal(datetime(2024, 1, 1, 9))
    assert normal(datetime(2024, 1, 1, 18, tzinfo=timezone(timedelta(hours=9)))) == normal(datetime(2024, 1, 1, 9))
    assert normal(datetime(2024, 1, 1, 9, 0, 0, 1)) != normal(datetime(2024, 1, 1, 9))  # microseconds count
    assert normal(Decimal("1.10")) != normal(Decimal("1.1"))  # scale is part of the value
    assert normal(5) == "5" and normal(None) is None and normal(True) == "true"
    assert normal(date(2024, 6, 3)) == "2024-06-03" and normal(b"\x00\xff") == "AP8="


def test_row_hash_is_stable_and_sees_every_column():
    row = normal_row((1, "a", Decimal("2.50"), None, datetime(2024, 1, 1, 9, 30)))
    assert row == ("1", "a", "2.50", None, "2024-01-01 09:30:00.000000")
    digest = row_hash(row)
    assert len(digest) == 32 and digest == row_hash(list(row))
    assert digest.hex() == row_hash(normal_row((1, "a", Decimal("2.50"), None, datetime(2024, 1, 1, 9, 30)))).hex()
    for changed in (("2", "a", "2.50", None, row[4]), ("1", "b", "2.50", None, row[4]), ("1", "a", "2.5", None, row[4]),
                    ("1", "a", "2.50", "", row[4]), ("1", "a", "2.50", None, None)):
        assert row_hash(changed) != digest, changed
    # NULL and the text 'null' / 'None' are different values; so are column boundaries
    assert row_hash((None,)) != row_hash(("null",)) and row_hash((None,)) != row_hash(("None",))
    assert row_hash(("ab", "c")) != row_hash(("a", "bc"))


def test_the_same_row_read_by_each_system_hashes_equal():
    """MySQL (pymysql, UTC session), PostgreSQL (psycopg2, TIMESTAMPTZ aware) and Iceberg (PySpark in UTC)
    return one row in different Python shapes; the hash must not see that."""
    mysql = (7, 1001, "KB", Decimal("10.00"), datetime(2024, 1, 5, 9, 12), datetime(2026, 1, 2, 3, 4, 5, 6))
    postgres = (7, 1001, "KB", Decimal("10.00"), datetime(2024, 1, 5, 9, 12),
                datetime(2026, 1, 2, 12, 4, 5, 6, tzinfo=timezone(timedelta(hours=9))))
    iceberg = (7, 1001, "KB", Decimal("10.00"), datetime(2024, 1, 5, 9, 12),
               datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    cols = ["id", "user_id", "account", "balance", "created_at", "updated_at"]
    hashes = [list(hash_rows([r], cols, ["id"])) for r in (mysql, postgres, iceberg)]
    assert hashes[0] == hashes[1] == hashes[2] and hashes[0][0][0] == ("7",)


def test_hash_rows_keys_are_normal_form_and_key_columns_must_exist():
    pairs = list(hash_rows([(1, "x", date(2024, 1, 2))], ["a", "b", "d"], ["D", "a"]))  # case-insensitive
    assert pairs[0][0] == ("2024-01-02", "1")
    with pytest.raises(VerifyError, match="key column 'nope' is not a column"):
        list(hash_rows([(1, "x")], ["a", "b"], ["nope"]))


def test_key_order_is_natural():
    keys = [("10",), ("9",), ("-3",), ("b",), (None,), ("a",), ("²",)]
    assert sorted(keys, key=key_order) == [(None,), ("-3",), ("9",), ("10",), ("a",), ("b",), ("²",)]


# --- comparison ---------------------------------------------------------------------------------------


def test_compare_reports_missing_extra_and_different_keys():
    source = _keyed([(1, Decimal("1.00")), (2, Decimal("2.00")), (3, Decimal("3.00"))], COLS, ["id"])
    target = _keyed([(1, Decimal("1.00")), (3, Decimal("3.01")), (4, Decimal("4.00"))], COLS, ["id"])
    report = compare("t", "sink", source, target)
    assert not report.ok and report.status == "MISMATCH"
    assert (report.missing, report.extra, report.different) == ([("2",)], [("4",)], [("3",)])
    assert compare("t", "sink", source, dict(source)).ok


def test_compare_streams_pairs_and_sees_duplicate_keys():
    source = _keyed([(i, f"v{i}") for i in (1, 2, 10)], COLS, ["id"])
    stream = hash_rows(iter([(10, "v10"), (2, "v2"), (1, "v1"), (2, "v2")]), COLS, ["id"])
    report = compare("t", "iceberg", source, stream, ["id"])
    assert (report.source_rows, report.sink_rows) == (3, 4)
    assert report.duplicate_keys == [("2",)] and not (report.missing or report.extra or report.different)
    assert not report.ok


def test_compare_sorts_keys_naturally_and_counts_rows():
    source = _keyed([(i, "x") for i in range(1, 13)], COLS, ["id"])
    report = compare("t", "postgres", source, {}, ["id"])
    assert report.missing[:3] == [("1",), ("2",), ("3",)] and report.missing[-1] == ("12",)
    assert (report.source_rows, report.sink_rows) == (12, 0)


def test_equal_counts_and_no_key_differences_is_ok_unless_histories_disagree():
    source = _keyed([(1, "x")], COLS, ["id"])
    assert compare("t", "postgres", source, dict(source)).ok
    report = compare("t", "postgres", source, dict(source))
    report.history_duplicates, report.history_stale = 0, 0
    assert report.ok
    report.history_duplicates, report.history_duplicate_keys = 2, [("1",)]
    assert not report.ok
    report.history_duplicates, report.history_stale, report.history_stale_keys = 0, 1, [("1",)]
    assert not report.ok
    report.history_stale = 0
    report.notes.append("t_current lacks column(s) v (compared as NULL)")  # notes alone are not a mismatch
    assert report.ok


def test_source_table_of_topic():
    assert source_table_of("oltp.bankdb.bank_accounts") == ("bankdb", "bank_accounts")


# --- output and exit code -----------------------------------------------------------------------------


def _reports():
    good = TableReport("bank_accounts", "postgres", 5, 5, key_columns=("id",), history_duplicates=0, history_stale=0,
                       history_missing=0, versions_stale=0)
    bad = TableReport("bank_accounts", "iceberg", 5, 5, key_columns=("id",), different=[("3",)],
                      missing=[("7",)], extra=[("8",)], history_duplicates=3,
                      history_duplicate_keys=[("1",), ("2",)], history_stale=0, history_missing=2,
                      history_missing_keys=[("4",), ("9",)], versions_stale=1, versions_stale_keys=[("3",)])
    return good, bad


def test_exit_code_decision():
    good, bad = _reports()
    assert exit_code([good]) == 0
    assert exit_code([good, bad]) == 1
    assert exit_code([]) == 1  # nothing checked is not a success


def test_text_report_lists_each_check_and_the_differing_keys():
    good, bad = _reports()
    text = render_text([good, bad], limit=10)
    lines = text.splitlines()
    assert lines[0].split() == ["table", "sink", "source", "rows", "sink", "rows", "missing", "extra", "different",
                                "history", "dups", "history", "stale", "history", "lacks", "versions", "stale", "status"]
    assert lines[2].split() == ["bank_accounts", "postgres", "5", "5", "0", "0", "0", "0", "0", "0", "0", "OK"]
    assert lines[3].split() == ["bank_accounts", "iceberg", "5", "5", "1", "1", "1", "3", "0", "2", "1", "MISMATCH"]
    assert "MISMATCH: 1 of 2 check(s) differ" in text
    assert "bank_accounts / iceberg: different 1: id=3" in text
    assert "bank_accounts / iceberg: missing 1: id=7" in text and "extra 1: id=8" in text
    assert "bank_accounts / iceberg: history duplicates 3: id=1, id=2 (and 1 more)" in text
    assert "bank_accounts / iceberg: history missing 2: id=4, id=9" in text
    assert "bank_accounts / iceberg: versions stale 1: id=3" in text
    ok_text = render_text([good])
    assert ok_text.splitlines()[-1].startswith("OK") and "MISMATCH" not in ok_text


def test_text_report_limits_keys_and_shows_unchecked_history():
    report = TableReport("t", "postgres", 30, 0, key_columns=("id",), missing=[(str(i),) for i in range(30)])
    text = render_text([report], limit=3)
    assert "missing 30: id=0, id=1, id=2 (and 27 more)" in text
    assert "30 rows in MySQL, 0 in the sink" in text
    assert text.splitlines()[2].split()[-5:] == ["-", "-", "-", "-", "MISMATCH"]  # history, versions not checked


def test_json_report_is_one_document_with_keys_by_column():
    good, bad = _reports()
    document = json.loads(json.dumps(render_json([good, bad], limit=1)))
    assert document["status"] == "MISMATCH" and document["ok"] is False
    first, second = document["results"]
    assert (first["table"], first["sink"], first["status"], first["ok"]) == ("bank_accounts", "postgres", "OK", True)
    assert second["different"] == {"count": 1, "keys": [{"id": "3"}]}
    assert second["history_duplicates"] == {"count": 3, "keys": [{"id": "1"}]}  # limit 1
    assert second["history_missing"] == {"count": 2, "keys": [{"id": "4"}]}
    assert first["history_missing"] == {"count": 0, "keys": []}
    assert second["history_stale"] == {"count": 0, "keys": []}
    assert render_json([good])["status"] == "OK"
    unchecked = TableReport("t", "iceberg", 0, 0).to_dict()
    assert unchecked["history_duplicates"] is None and unchecked["ok"] is True


def test_composite_keys_are_named():
    assert format_key(("1", "a"), ("tenant", "id")) == "(tenant=1, id=a)"
    assert format_key((None,), ("id",)) == "id=NULL"
    assert key_dict(("1", "a"), ("tenant", "id")) == {"tenant": "1", "id": "a"}
    assert key_dict(("1",), ()) == {"key0": "1"}


# --- configuration: the mysql section -----------------------------------------------------------------

MINIMAL = {
    "source": {"topics": ["oltp.bankdb.bank_accounts"]},
    "tables": [{"topic": "oltp.bankdb.bank_accounts", "key_columns": ["id"]}],
}


def _load(tmp_path, document, environ=None):
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_config(path, environ or {})


def test_mysql_section_defaults_follow_the_stack_variables(tmp_path):
    assert _load(tmp_path, MINIMAL).mysql == MysqlConfig(host="127.0.0.1", port=3307, user="debezium", password="dbz")
    env = {"CDC_MYSQL_HOST": "localhost", "CDC_MYSQL_PORT": "3407", "CDC_MYSQL_USER": "u", "CDC_MYSQL_PASSWORD": "p"}
    mysql = _load(tmp_path, MINIMAL, env).mysql
    assert mysql == MysqlConfig(host="localhost", port=3407, user="u", password="p")
    assert mysql.connect_kwargs() == {"host": "localhost", "port": 3407, "user": "u", "password": "p"}
    assert "p'" not in repr(mysql) and "password" not in repr(mysql)
    assert [k for k in DEFAULTS if k.startswith("mysql.")] == ["mysql.host", "mysql.port", "mysql.user", "mysql.password"]


def test_shipped_configuration_has_the_mysql_section():
    text = (REPO / "conf" / "pipeline.yaml").read_text(encoding="utf-8")
    assert "mysql" in yaml.safe_load(text)
    assert load_config(REPO / "conf" / "pipeline.yaml", {"CDC_MYSQL_PORT": "3999"}).mysql.port == 3999


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"port": 0}, "mysql.port: expected a port number 1..65535, got 0"),
        ({"port": "http"}, "mysql.port: expected a port number 1..65535, got 'http'"),
        ({"host": ""}, "mysql.host: expected a non-empty string, got ''"),
        ({"user": ["a"]}, "mysql.user: expected a string, got ['a']"),
        ({"database": "bankdb"}, "mysql.database: unknown key; allowed keys in mysql: host, port, user, password"),
        ("localhost", "mysql: expected a mapping with keys host, port, user, password"),
    ],
)
def test_mysql_section_errors_name_the_key(tmp_path, section, expected):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {**MINIMAL, "mysql": section})
    assert str(caught.value).startswith(expected), str(caught.value)
