"""Golden Debezium messages (tests/data) and builders for hand-made ones."""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any, Callable

from cdc_pipeline.debezium import decode_record

DATA = Path(__file__).resolve().parent.parent / "data"
ACCOUNTS_TOPIC = "oltp.bankdb.bank_accounts"
TRANSACTIONS_TOPIC = "oltp.bankdb.transactions"


def golden(topic: str) -> list[dict]:
    """Records captured from our stack: {topic, partition, offset, timestamp, key, value} (raw JSON text)."""
    return json.loads((DATA / f"{topic}.json").read_text(encoding="utf-8"))


def golden_record(topic: str, partition: int, offset: int) -> dict:
    for record in golden(topic):
        if record["partition"] == partition and record["offset"] == offset:
            return record
    raise KeyError((topic, partition, offset))


def encode(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def decode(record: dict, **kwargs):
    return decode_record(
        record["topic"], record["partition"], record["offset"], encode(record["key"]), encode(record["value"]), **kwargs
    )


def mutate_value(record: dict, change: Callable[[dict], Any]) -> dict:
    """A copy of the record whose value JSON was changed in place by `change(document)`."""
    document = json.loads(record["value"])
    change(document)
    return {**record, "value": json.dumps(document)}


def mutate_key(record: dict, change: Callable[[dict], Any]) -> dict:
    document = json.loads(record["key"])
    change(document)
    return {**record, "key": json.dumps(document)}


def after_fields(document: dict) -> list[dict]:
    return next(f for f in document["schema"]["fields"] if f["field"] == "after")["fields"]


def image_field(document: dict, image: str, name: str) -> dict:
    fields = next(f for f in document["schema"]["fields"] if f["field"] == image)["fields"]
    return next(f for f in fields if f["field"] == name)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decimal_bytes(unscaled: int) -> str:
    """Kafka Connect Decimal encoding: big-endian two's complement, minimal length, base64."""
    length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
    return b64(unscaled.to_bytes(length, "big", signed=True))


def synthetic(fields: list[dict], after: dict, *, op: str = "c", before: dict | None = None,
              key: dict | None = None, key_fields: list[dict] | None = None, source: dict | None = None) -> dict:
    """A hand-made record of table shop.things with the given after-image schema fields and values."""
    value_schema = {"type": "struct", "optional": True, "name": "t.shop.things.Value", "fields": fields}
    src = {"version": "3.0.7.Final", "connector": "mysql", "name": "t", "ts_ms": 1_700_000_000_000,
           "snapshot": "false", "db": "shop", "table": "things", "server_id": 1, "gtid": None,
           "file": "mysql-bin.000007", "pos": 1234, "row": 2, "thread": 5, "query": None}
    src.update(source or {})
    envelope = {
        "schema": {
            "type": "struct",
            "name": "t.shop.things.Envelope",
            "optional": False,
            "fields": [
                {**copy.deepcopy(value_schema), "field": "before"},
                {**copy.deepcopy(value_schema), "field": "after"},
                {"type": "struct", "optional": False, "name": "io.debezium.connector.mysql.Source", "field": "source",
                 "fields": []},
                {"type": "string", "optional": False, "field": "op"},
                {"type": "int64", "optional": True, "field": "ts_ms"},
            ],
        },
        "payload": {"before": before, "after": after, "source": src, "op": op, "ts_ms": 1_700_000_000_100},
    }
    record = {"topic": "t.shop.things", "partition": 0, "offset": 42, "timestamp": 0, "key": None,
              "value": json.dumps(envelope)}
    if key is not None:
        key_schema = {"type": "struct", "optional": False, "name": "t.shop.things.Key",
                      "fields": key_fields or [{"type": "int64", "optional": False, "field": k} for k in key]}
        record["key"] = json.dumps({"schema": key_schema, "payload": key})
    return record


def planning_config(*tables, max_record_bytes: int = 16 * 1024 * 1024, **sections):
    """A PipelineConfig with what planning a batch reads (the tables, the source's record limit) and the
    given sections; every other section None."""
    import dataclasses

    from cdc_pipeline.config import PipelineConfig, SourceConfig
    source = SourceConfig(format="kafka", bootstrap_servers="127.0.0.1:9", topics=tuple(t.topic for t in tables),
                          topic_pattern=None, starting_offsets="earliest", max_offsets_per_trigger=1000,
                          trigger_interval="1 second", fail_on_data_loss=True, kafka_options={},
                          max_record_bytes=max_record_bytes)
    fields = {f.name: None for f in dataclasses.fields(PipelineConfig)}
    return PipelineConfig(**{**fields, "source": source, "tables": tuple(tables), **sections})
