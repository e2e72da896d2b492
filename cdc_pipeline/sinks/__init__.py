"""The sinks, behind one protocol (base.Sink). A table's `sinks:` names them; this registry is the one
place a name becomes a class. Adding a sink: a module here with a class built from (config, spark) that
has `name`, `committed`, `write` and `reset`, its entry below, and its name in config.SINKS."""
from __future__ import annotations

from ..config import SINKS
from .base import Sink, SinkResult


def _registry() -> dict[str, type]:
    from .iceberg import IcebergSink
    from .postgres import PostgresSink
    return {IcebergSink.name: IcebergSink, PostgresSink.name: PostgresSink}


def build_sink(name: str, config, spark) -> Sink:
    """The sink called `name` (one of config.SINKS), for the tables of `config` that write to it."""
    registry = _registry()
    if set(registry) != set(SINKS):
        raise RuntimeError(f"sink registry {sorted(registry)} differs from config.SINKS {sorted(SINKS)}")
    return registry[name](config, spark)


__all__ = ["Sink", "SinkResult", "build_sink"]
