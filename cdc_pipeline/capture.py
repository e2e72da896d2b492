"""Which MySQL tables the pipeline captures, kept in two places that must agree: the `tables:` entries of
`conf/pipeline.yaml` (what the job applies, re-read live: config_loader.LiveConfig) and the Debezium
connector's `table.include.list` (what reaches Kafka). `make add-table` / `make remove-table` edit both
with the pure functions here; stack/tables.py does the I/O (MySQL, Connect's REST API, the signal).

The YAML file is edited as text, entry by entry, so its comments and layout stay as the user wrote
them; every edit is checked by parsing the result and comparing the `tables` list with the intent.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from .config import _name_from_topic
from .errors import ConfigError

_TABLES_KEY = re.compile(r"^tables\s*:\s*(#.*)?$")
_ITEM = re.compile(r"^(\s*)-\s")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class SourceTable:
    """A MySQL table as `make add-table TABLE=<db>.<table>` names it."""
    database: str
    table: str

    @classmethod
    def parse(cls, text: str) -> "SourceTable":
        database, dot, table = (text or "").strip().partition(".")
        if not dot or not _NAME.fullmatch(database) or not _NAME.fullmatch(table):
            raise ConfigError(f"TABLE: expected <database>.<table> (letters, digits, _), got {text!r}")
        return cls(database, table)

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.table}"

    def topic(self, topic_prefix: str) -> str:
        """Debezium's topic for the table: <topic.prefix>.<db>.<table>."""
        return f"{topic_prefix}.{self.database}.{self.table}"


def parse_key_columns(text: str | None) -> tuple[str, ...]:
    """KEY=<column,...> (empty: the table's primary key)."""
    columns = tuple(c.strip() for c in (text or "").split(",") if c.strip())
    for column in columns:
        if not _NAME.fullmatch(column):
            raise ConfigError(f"KEY: {column!r} is not a column name")
    if len(set(columns)) != len(columns):
        raise ConfigError(f"KEY: a column is named twice in {text!r}")
    return columns


# --- conf/pipeline.yaml ---------------------------------------------------------------------------

def _tables_section(lines: list[str]) -> tuple[int, int]:
    """(index of the `tables:` line, index of the first line after the section)."""
    starts = [i for i, line in enumerate(lines) if _TABLES_KEY.match(line)]
    if len(starts) != 1:
        raise ConfigError("the pipeline config needs exactly one top-level `tables:` line followed by its "
                          "entries (block style, `- topic: ...`) to be edited by make add-table/remove-table")
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "\t", "\n", "\r")),
               len(lines))
    return start, end


def _entries(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """(first, last+1) line of each `- ` entry of the section; trailing blank lines, and comments not
    indented deeper than the entry (they introduce what follows), are not part of it."""
    items = [i for i in range(start + 1, end) if _ITEM.match(lines[i])]
    if not items:
        return []
    indent = min(len(_ITEM.match(lines[i]).group(1)) for i in items)
    items = [i for i in items if len(_ITEM.match(lines[i]).group(1)) == indent]
    blocks = []
    for n, first in enumerate(items):
        last = items[n + 1] if n + 1 < len(items) else end
        while last > first + 1 and (not lines[last - 1].strip() or (
                lines[last - 1].lstrip().startswith("#")
                and len(lines[last - 1]) - len(lines[last - 1].lstrip()) <= indent)):
            last -= 1
        blocks.append((first, last))
    return blocks


def _tables_of(text: str) -> list:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"the pipeline config is not valid YAML: {err}") from err
    tables = (document or {}).get("tables") if isinstance(document, dict) else None
    if not isinstance(tables, list):
        raise ConfigError("the pipeline config has no `tables:` list")
    return tables


def table_entry_lines(topic: str, name: str, key_columns: tuple[str, ...], note: str, indent: str = "  ") -> list[str]:
    """The YAML lines of one `tables:` entry as make add-table writes it."""
    lines = [f"{indent}- topic: {topic}\n", f"{indent}  name: {name}\n"]
    if key_columns:
        lines.append(f"{indent}  key_columns: [{', '.join(key_columns)}]\n")
    lines.append(f"{indent}  sinks: [iceberg, postgres]\n")
    if note:
        lines.append(f"{indent}  # {note}\n")
    return lines


def add_table_entry(text: str, topic: str, name: str, key_columns: tuple[str, ...], note: str = "") -> str:
    """`text` with a `tables:` entry for `topic` appended after the last one. Refuses a topic or a
    name that is already configured."""
    before = _tables_of(text)
    for entry in before:
        if isinstance(entry, dict) and entry.get("topic") == topic:
            raise ConfigError(f"{topic} is already under tables: in the pipeline config")
        if isinstance(entry, dict) and (entry.get("name") or _name_from_topic(str(entry.get("topic", "")))) == name:
            raise ConfigError(f"the sink name {name!r} is already used by {entry.get('topic')!r}")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start, end = _tables_section(lines)
    blocks = _entries(lines, start, end)
    if blocks:
        at = blocks[-1][1]
        indent = _ITEM.match(lines[blocks[-1][0]]).group(1)
        new = ["\n"] + table_entry_lines(topic, name, key_columns, note, indent)
    else:
        at, new = start + 1, table_entry_lines(topic, name, key_columns, note)
    result = "".join(lines[:at] + new + lines[at:])
    after = _tables_of(result)
    expected = {"topic": topic, "name": name, "sinks": ["iceberg", "postgres"],
                **({"key_columns": list(key_columns)} if key_columns else {})}
    if after[:-1] != before or after[-1] != expected:
        raise ConfigError("could not add the entry to tables: without changing other entries; add it by hand")
    return result


def remove_table_entry(text: str, topic: str) -> str:
    """`text` without the `tables:` entry of `topic` (its comment lines inside the entry go too)."""
    before = _tables_of(text)
    keep = [e for e in before if not (isinstance(e, dict) and e.get("topic") == topic)]
    if len(keep) == len(before):
        raise ConfigError(f"{topic} is not under tables: in the pipeline config")
    lines = text.splitlines(keepends=True)
    start, end = _tables_section(lines)
    for first, last in _entries(lines, start, end):
        block = yaml.safe_load("".join(line[len(_ITEM.match(lines[first]).group(1)):] for line in lines[first:last]))
        if isinstance(block, list) and block and isinstance(block[0], dict) and block[0].get("topic") == topic:
            # The blank line that separated it from the entry before goes with it.
            cut = first - 1 if first - 1 > start and not lines[first - 1].strip() else first
            result = "".join(lines[:cut] + lines[last:])
            if _tables_of(result) != keep:
                break
            return result
    raise ConfigError(f"could not remove the entry of {topic} from tables: as text; remove it by hand")


# --- the Debezium connector's configuration --------------------------------------------------------

def _list(value: str | None, separator: str = ",") -> list[str]:
    return [v.strip() for v in (value or "").split(separator) if v.strip()]


def included_tables(config: dict) -> list[str]:
    """The connector's `table.include.list`, entry by entry."""
    return _list(config.get("table.include.list"))


def with_table(config: dict, table: SourceTable, key_columns: tuple[str, ...] = ()) -> dict:
    """The connector config capturing `table` too (its `message.key.columns` when a KEY is given)."""
    included = included_tables(config)
    return _with_key_columns({**config, "table.include.list": ",".join(
        included + ([table.qualified] if table.qualified not in included else []))}, table, key_columns)


def without_table(config: dict, table: SourceTable) -> dict:
    """The connector config no longer capturing `table`."""
    included = [t for t in included_tables(config) if t != table.qualified]
    if not included:
        raise ConfigError(f"{table.qualified} is the connector's last table; a connector needs at least one")
    return _with_key_columns({**config, "table.include.list": ",".join(included)}, table, ())


def _with_key_columns(config: dict, table: SourceTable, key_columns: tuple[str, ...]) -> dict:
    """`message.key.columns` (`<db>.<table>:<col>,<col>;...`) with the table's entry set or dropped."""
    out = dict(config)
    keys = [k for k in _list(out.get("message.key.columns"), ";") if k.split(":", 1)[0] != table.qualified]
    if key_columns:
        keys.append(f"{table.qualified}:{','.join(key_columns)}")
    if keys:
        out["message.key.columns"] = ";".join(keys)
    else:
        out.pop("message.key.columns", None)
    return out


def captured(config: dict, table: SourceTable) -> bool:
    return table.qualified in included_tables(config)


def snapshot_signal(table: SourceTable) -> tuple[str, str]:
    """(type, data) of the signal-table row that starts Debezium's incremental snapshot of `table`."""
    return "execute-snapshot", json.dumps({"data-collections": [table.qualified], "type": "incremental"})
