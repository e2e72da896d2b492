"""Schema evolution, decided once per batch for every sink: which columns, what to add or widen, and
which column sets cannot be applied (their events go to the dead letters instead of crash-looping).

Planned against the schema registry (cdc_pipeline.control), which records each table's columns after
every sink applied the batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .debezium import Column
from .vocabulary import RENAME_PREFIX, is_reserved, is_safe_widening, mysql_column_name, sink_column_name


@dataclass
class SchemaPlan:
    columns: list[Column]  # the table's columns after this batch, registered order first
    added: list[Column] = field(default_factory=list)
    widened: list[tuple[str, str, str]] = field(default_factory=list)  # (name, old type, new type)
    rejected: dict[tuple[Column, ...], str] = field(default_factory=dict)  # source column set -> reason
    # sink name -> source name, for the columns stored under another name (vocabulary.sink_column_name)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.widened)


def plan_columns(table: str, registered: tuple[Column, ...] | None, batch_sets: list[tuple[Column, ...]],
                 key_columns: tuple[str, ...]) -> SchemaPlan:
    """Merge the column sets seen in a batch (MySQL's column names) into the registered schema (the
    sinks' names: a column named like a pipeline column is renamed, vocabulary.sink_column_name).

    A new column is added (nullable: older rows do not have it); a type that widens safely is widened;
    an older, narrower type is read into the wider column; anything else rejects that column set.
    """
    plan = SchemaPlan(columns=list(registered or ()))
    by_name = {c.name: i for i, c in enumerate(plan.columns)}
    creating = registered is None  # the first accepted column set defines a new table as it is
    reserved_keys = [k for k in key_columns if is_reserved(k)]
    for source_set in batch_sets:
        column_set = tuple(Column(sink_column_name(mysql_column_name(c.name)), c.type, c.nullable) for c in source_set)
        renamed = {c.name: s.name for c, s in zip(column_set, source_set) if c.name != s.name}
        names = {c.name for c in column_set}
        source_names = {mysql_column_name(s.name).lower() for s in source_set}
        # a stored name that is another column's MySQL name (`src_op` beside a renamed `_op`)
        clash = sorted(n for n in renamed if n.lower() in source_names and n.lower() != mysql_column_name(renamed[n]).lower())
        missing_keys = [k for k in key_columns if k not in names]
        if clash:
            plan.rejected[source_set] = (f"{table}: column(s) {[renamed[n] for n in clash]} would be stored as "
                                         f"{clash}, which the table already has (a column named like a pipeline "
                                         f"column is stored as {RENAME_PREFIX!r} + its name); rename one in MySQL")
            continue
        if reserved_keys:
            plan.rejected[source_set] = (f"{table}: key column(s) {reserved_keys} are named like pipeline "
                                         f"columns; a key column cannot be renamed in the sinks, rename it in MySQL")
            continue
        if missing_keys:
            plan.rejected[source_set] = (f"{table}: key column(s) {missing_keys} missing from the change "
                                         f"event's row (columns: {sorted(names)})")
            continue
        conflicts = []
        for col in column_set:
            i = by_name.get(col.name)
            if i is None:
                continue
            current = plan.columns[i].type
            if not is_safe_widening(col.type, current) and not is_safe_widening(current, col.type):
                conflicts.append(f"{col.name}: {current} -> {col.type}")
        if conflicts:
            plan.rejected[source_set] = (f"{table}: incompatible column type change ({'; '.join(conflicts)}); "
                                         f"only widening (int->bigint, float->double, decimal precision) is "
                                         f"applied automatically")
            continue
        for col in column_set:
            i = by_name.get(col.name)
            if i is None:
                new = col if creating else Column(col.name, col.type, True)
                by_name[col.name] = len(plan.columns)
                plan.columns.append(new)
                if registered is not None:
                    plan.added.append(new)
            elif col.type != plan.columns[i].type and is_safe_widening(plan.columns[i].type, col.type):
                old = plan.columns[i]
                plan.columns[i] = Column(old.name, col.type, old.nullable)
                plan.widened.append((old.name, old.type, col.type))
        plan.sources.update(renamed)
        creating = False
    return plan
