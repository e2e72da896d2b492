"""`make status` while Debezium snapshots: per table, rows so far of the estimate and an ETA (stack.status)."""
from __future__ import annotations

import pytest

from stack.status import format_snapshot, snapshot_progress

RUNNING = {"running": 1.0, "completed": 0.0, "tables": 2.0, "remaining_tables": 1.0, "duration_seconds": 20.0}


def test_progress_per_table_with_an_eta_from_the_rate_so_far():
    snap = snapshot_progress(RUNNING, {"bank_accounts": 20_000, "transactions": 2_000},
                             {"bank_accounts": 20_000, "transactions": 10_000})
    assert snap["running"] and (snap["tables_total"], snap["tables_remaining"]) == (2, 1)
    accounts, transactions = snap["tables"]["bank_accounts"], snap["tables"]["transactions"]
    assert (accounts["percent"], accounts["eta_seconds"]) == (100.0, 0.0)
    # 22 000 records in 20 s = 1 100/s; 8 000 left
    assert transactions["percent"] == 20.0 and transactions["eta_seconds"] == pytest.approx(8_000 / 1_100)
    lines = format_snapshot(snap)
    assert lines[0].startswith("SNAPSHOT  running for 20 s: 1 of 2 table(s) left")
    assert lines[2].split() == ["transactions", "2,000", "of", "~10,000", "rows", "(20", "%),", "ETA", "7", "s"]


def test_an_estimate_below_the_rows_so_far_and_no_rate_yet():
    snap = snapshot_progress({**RUNNING, "duration_seconds": 0.0}, {"t": 150}, {"t": 100, "empty": 0})
    assert snap["tables"]["t"]["percent"] == 100.0 and snap["tables"]["t"]["eta_seconds"] == 0.0
    assert snap["tables"]["empty"]["percent"] is None  # InnoDB estimates 0 rows: nothing to divide by
    assert snapshot_progress({**RUNNING, "duration_seconds": 0.0}, {"t": 0}, {"t": 5})["tables"]["t"]["eta_seconds"] is None


def test_no_snapshot_running():
    snap = snapshot_progress({"running": 0.0, "completed": 1.0}, {}, {})
    assert not snap["running"] and snap["tables"] == {}
    assert format_snapshot(snap) == ["SNAPSHOT  none running (this Connect run's snapshot completed); "
                                     "the connector streams the binlog"]
    assert format_snapshot({"running": False, "error": "Connect's metrics at …: ConnectionError"})[0] \
        .startswith("SNAPSHOT  unknown")


def test_an_incremental_snapshot_counts_from_its_request(tmp_path):
    import json
    import time
    from types import SimpleNamespace

    from stack.status import backfills_file, current_backfills
    settings = SimpleNamespace(state_dir=tmp_path)
    assert current_backfills(settings, 30.0) == {}  # nothing requested yet
    backfills_file(settings).parent.mkdir(parents=True)
    backfills_file(settings).write_text(json.dumps({
        "loans": {"topic": "oltp.bankdb.loans", "baseline": 0, "estimate": 20_000, "requested_at": time.time() - 10},
        "old": {"topic": "oltp.bankdb.old", "baseline": 5, "estimate": 9, "requested_at": time.time() - 3_600}}))
    assert list(current_backfills(settings, 30.0)) == ["loans"]  # the older one finished before this snapshot
    snap = {**snapshot_progress(RUNNING, {"loans": 5_000}, {"loans": 20_000}), "incremental": True}
    lines = format_snapshot(snap)
    assert lines[0].startswith("SNAPSHOT  incremental (make add-table / resnapshot), running for 20 s")
    assert lines[1].split()[:7] == ["loans", "5,000", "of", "~20,000", "rows", "(25", "%),"]


def test_status_line_of_the_transaction_gate():
    from stack.status import format_held
    assert format_held(None) == "unknown"
    assert format_held({"tail_read": 0}) == "applied at offset boundaries (transactions.consistent: false)"
    held = {"tail_read": 12, "held_transactions": 3, "incomplete_transactions": 1, "held_records": 9,
            "released_transactions": 0, "gate_rounds": 2}
    assert format_held(held) == "whole only; 3 held back (1 incomplete), 9 record(s) to read again"
    assert format_held({**held, "released_transactions": 2}).endswith("; 2 applied incomplete (timeout/size)")
