"""make add-table / remove-table edits (cdc_pipeline.capture) and the running job's view of them
(config_loader.LiveConfig), on the shipped conf/pipeline.yaml and connector files."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cdc_pipeline.capture import (SourceTable, add_table_entry, captured, parse_key_columns, remove_table_entry,
                                  snapshot_signal, with_table, without_table)
from cdc_pipeline.config_loader import LiveConfig, load_config
from cdc_pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PIPELINE_YAML = REPO / "conf" / "pipeline.yaml"
LOANS = "oltp.bankdb.loans"


def test_source_table_and_key_parsing():
    table = SourceTable.parse(" bankdb.loans ")
    assert (table.qualified, table.topic("oltp")) == ("bankdb.loans", LOANS)
    for bad in ("loans", "bankdb.", "bank db.loans", "bankdb.loans;drop", "a.b.c", ""):
        with pytest.raises(ConfigError, match="TABLE: expected <database>.<table>"):
            SourceTable.parse(bad)
    assert parse_key_columns("loan_no, branch") == ("loan_no", "branch")
    assert parse_key_columns("") == () and parse_key_columns(None) == ()
    with pytest.raises(ConfigError, match="not a column name"):
        parse_key_columns("id; DROP TABLE x")
    with pytest.raises(ConfigError, match="named twice"):
        parse_key_columns("id,id")


def test_add_then_remove_restores_the_file_byte_for_byte():
    text = PIPELINE_YAML.read_text()
    added = add_table_entry(text, LOANS, "loans", ("loan_no",), note="added by a test")
    config = load_config_text(added)
    loans = config.tables[-1]
    assert (loans.topic, loans.name, loans.key_columns, loans.sinks) == (LOANS, "loans", ("loan_no",),
                                                                         ("iceberg", "postgres"))
    assert [t.topic for t in config.tables[:-1]] == ["oltp.bankdb.bank_accounts", "oltp.bankdb.transactions"]
    # Everything outside the new entry is untouched, comments included.
    new_lines = added.splitlines()
    at = new_lines.index("  - topic: oltp.bankdb.loans")
    assert new_lines[at - 1:at + 5] == ["", "  - topic: oltp.bankdb.loans", "    name: loans",
                                        "    key_columns: [loan_no]", "    sinks: [iceberg, postgres]",
                                        "    # added by a test"]
    assert new_lines[:at - 1] + new_lines[at + 5:] == text.splitlines()
    assert remove_table_entry(added, LOANS) == text


def test_add_refuses_duplicates_and_remove_refuses_strangers():
    text = PIPELINE_YAML.read_text()
    with pytest.raises(ConfigError, match="already under tables"):
        add_table_entry(text, "oltp.bankdb.transactions", "transactions", ("id",))
    with pytest.raises(ConfigError, match="'transactions' is already used"):
        add_table_entry(text, "oltp.otherdb.transactions", "transactions", ("id",))
    with pytest.raises(ConfigError, match="is not under tables"):
        remove_table_entry(text, LOANS)


def test_remove_a_middle_entry_keeps_the_others_and_their_comments():
    text = PIPELINE_YAML.read_text()
    without = remove_table_entry(add_table_entry(text, LOANS, "loans", ("id",)), "oltp.bankdb.bank_accounts")
    assert [t.topic for t in load_config_text(without).tables] == ["oltp.bankdb.transactions", LOANS]
    assert "user_account_stats" not in without.split("tables:", 1)[1].split("iceberg:", 1)[0]
    assert "# Re-read by the running job" in without


def test_a_flow_style_tables_list_is_refused_not_mangled():
    text = "source: {}\ntables: [{topic: a.b.c, key_columns: [id]}]\n"
    with pytest.raises(ConfigError, match="add it by hand|exactly one top-level"):
        add_table_entry(text, LOANS, "loans", ("id",))


def test_connector_config_edits():
    spec = json.loads((REPO / "conf" / "debezium-mariadb-connector.json").read_text())["config"]
    loans = SourceTable("bankdb", "loans")
    assert spec["signal.data.collection"] == "bankdb.debezium_signal"
    assert not captured(spec, loans)
    added = with_table(spec, loans)
    assert added["table.include.list"] == "bankdb.bank_accounts,bankdb.transactions,bankdb.loans"
    assert "message.key.columns" not in added and captured(added, loans)
    keyed = with_table(added, loans, ("loan_no", "branch"))
    assert keyed["table.include.list"] == added["table.include.list"]  # not twice
    assert keyed["message.key.columns"] == "bankdb.loans:loan_no,branch"
    other = with_table(keyed, SourceTable("bankdb", "cards"), ("pan",))
    assert other["message.key.columns"] == "bankdb.loans:loan_no,branch;bankdb.cards:pan"
    removed = without_table(other, loans)
    assert removed["table.include.list"] == "bankdb.bank_accounts,bankdb.transactions,bankdb.cards"
    assert removed["message.key.columns"] == "bankdb.cards:pan"
    assert without_table(with_table(spec, loans), loans) == spec
    with pytest.raises(ConfigError, match="last table"):
        without_table({"table.include.list": "bankdb.loans"}, loans)
    kind, data = snapshot_signal(loans)
    assert kind == "execute-snapshot"
    assert json.loads(data) == {"data-collections": ["bankdb.loans"], "type": "incremental"}


def test_the_topic_pattern_reads_new_tables_but_not_the_signal_table():
    source = load_config(PIPELINE_YAML, {}).source
    assert source.subscribes_to(LOANS) and source.subscribes_to("oltp.bankdb.bank_accounts")
    assert not source.subscribes_to("oltp.bankdb.debezium_signal")
    assert source.subscribes_to("oltp.bankdb.debezium_signal_archive")
    assert not source.subscribes_to("oltp.otherdb.loans") and not source.subscribes_to("oltp.bankdb.a.b")
    assert source.reader_options()["subscribePattern"] == r"oltp\.bankdb\.(?!debezium_signal$)[A-Za-z0-9_]+"


def test_live_config_follows_tables_and_keeps_the_rest(tmp_path, caplog):
    path = tmp_path / "pipeline.yaml"
    text = PIPELINE_YAML.read_text()
    path.write_text(text)
    live = LiveConfig(path, {})
    first = live.current()
    assert live.current() is first  # unchanged bytes: the same object, nothing re-read
    caplog.set_level(logging.INFO)
    path.write_text(add_table_entry(text, LOANS, "loans", ("id",)))
    second = live.current()
    assert [t.topic for t in second.tables][-1] == LOANS and second.postgres == first.postgres
    assert any(getattr(r, "event", None) == "cdc_config_reload" and r.added == [LOANS] for r in caplog.records)

    # A broken file is refused: the job keeps its tables and says why.
    path.write_text(text.replace("key_columns: [id]", "key_columns: 7", 1))
    assert live.current() is second
    assert any(getattr(r, "event", None) == "cdc_config_refused" and r.levelno == logging.ERROR
               for r in caplog.records)

    # Outside tables: nothing changes until a restart, and the job says so.
    path.write_text(text.replace("max_restarts: 10", "max_restarts: 3"))
    third = live.current()
    assert third.job.max_restarts == first.job.max_restarts and [t.topic for t in third.tables] == [
        t.topic for t in first.tables]
    assert any(getattr(r, "event", None) == "cdc_config_restart_needed" for r in caplog.records)


def load_config_text(text: str):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(text)
        return load_config(path, {})
