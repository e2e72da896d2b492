"""conf/grafana/dashboards/cdc-pipeline.json asks only for metrics that something produces: the job's
exporter (cdc_pipeline.metrics.PrometheusExporter) or the JMX exporter rules of conf/jmx/, which name every
metric explicitly, with the labels the selectors and groupings use."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cdc_pipeline.metrics import OP_COUNTS, PrometheusExporter

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "conf" / "grafana" / "dashboards" / "cdc-pipeline.json"
JMX_RULES = sorted((REPO / "conf" / "jmx").glob("*.yaml"))
# Prometheus's own series: `up` per scrape target (its labels are the target's job and instance).
BUILTIN = {"up": {"job", "instance"}}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
                "unless", "inf", "nan"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def job_metrics() -> dict[str, set[str]]:
    """Sample name -> label names, from an exporter that has seen a start and a batch of every kind."""
    exporter = PrometheusExporter()
    exporter.query_started("q.postgres")
    progress = {"name": "q.postgres", "batchId": 1, "numInputRows": 5, "inputRowsPerSecond": 1.0,
                "processedRowsPerSecond": 1.0, "durationMs": {"triggerExecution": 100},
                "sources": [{"endOffset": {"t": {"0": 1}}, "latestOffset": {"t": {"0": 2}}}]}
    stats = {**{count: 1 for count in OP_COUNTS}, "new_dead_letters": 1, "gate_s": 0.1, "plan_s": 0.1,
             "postgres_s": 0.1, "iceberg_s": 0.1,
             "transactions": {"held_records": 3, "held_transactions": 1, "released_transactions": 1}}
    exporter.batch_done(progress, stats)
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exporter.text().decode()):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    # Every registered family is covered (a metric the batch above did not touch would be missing).
    registered = {m.name for m in exporter.registry.collect()}
    assert registered <= {name.removesuffix("_total") for name in out}, registered
    return out


def jmx_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, as the rules of conf/jmx/*.yaml name them (lowercaseOutputName)."""
    out: dict[str, set[str]] = {}
    for path in JMX_RULES:
        config = yaml.safe_load(path.read_text())
        for rule in config["rules"]:
            name = rule["name"]
            assert "$" not in name, f"{path.name}: {name!r} is not an explicit name"
            if config.get("lowercaseOutputName"):
                name = name.lower()
            out.setdefault(name, set()).update(rule.get("labels") or {})
    return out


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names in its {...}) of each series selector of a PromQL expression; also the
    labels of each by/without (...) grouping, under the name ''. Functions and keywords are left out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\[[^\]]*\]", "", text)  # range vectors [5m]
    found = []
    for match in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", text):
        found.append(("", set(IDENT.findall(match.group(1)))))
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{[^}]*\})?(\s*\()?", text):
        name, matchers, call = match.group(1), match.group(2), match.group(3)
        if name is None and matchers is None:
            continue
        if call or (name or "").lower() in PROMQL_WORDS or (name and re.fullmatch(r"\d.*", name)):
            continue  # a function, an aggregation or a keyword
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))
        found.append((name or "", labels))
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                out.append((panel["title"], target["expr"]))

    walk(dashboard["panels"])
    return out


def test_selector_parsing():
    got = selectors('sum by (topic) (rate(kafka_server_bytes_in_total{topic!~"__.*"}[5m])) / up and time() - x')
    assert ("kafka_server_bytes_in_total", {"topic"}) in got and ("", {"topic"}) in got
    assert {name for name, _ in got} == {"", "kafka_server_bytes_in_total", "up", "x"}


def test_the_dashboard_is_provisionable_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "cdc-pipeline" and dashboard["title"]
    datasource = yaml.safe_load((REPO / "conf" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
                                .read_text())["datasources"][0]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert panel["targets"], panel["title"]


def test_every_metric_the_dashboard_uses_is_produced():
    known = {**BUILTIN, **jmx_metrics()}
    job = job_metrics()
    overlap = set(job) & set(known)
    assert not overlap, f"the job and the JMX rules both name {overlap}"
    known.update(job)
    exprs = dashboard_exprs()
    assert len(exprs) > 20, exprs
    problems = []
    used = set()
    for title, expr in exprs:
        found = selectors(expr)
        names = {name for name, _ in found if name}
        assert names, f"{title}: no metric in {expr!r}"
        for name, labels in found:
            if name:
                used.add(name)
                if name not in known:
                    problems.append(f"{title}: {name} is produced by neither the job nor conf/jmx ({expr})")
                elif labels - known[name]:
                    problems.append(f"{title}: {name} has no label {sorted(labels - known[name])} ({expr})")
            else:  # a grouping: each label must be on some metric of the expression
                have = set().union(*(known.get(n, set()) for n in names))
                if labels - have:
                    problems.append(f"{title}: grouping by {sorted(labels - have)}, not a label of {sorted(names)}")
    assert not problems, "\n".join(problems)
    # What the issue asks the dashboard to show.
    for name in ("cdc_last_batch_timestamp_seconds", "cdc_offsets_behind_latest", "cdc_batch_seconds",
                 "cdc_changes_total", "cdc_dead_letters_total", "debezium_streaming_milliseconds_behind_source",
                 "debezium_queue_remaining_capacity", "kafka_server_bytes_in_total", "kafka_connect_task_status"):
        assert name in used, f"the dashboard does not show {name}"


@pytest.mark.parametrize("path", JMX_RULES, ids=lambda p: p.name)
def test_jmx_rules_are_explicit_and_counters_end_in_total(path):
    config = yaml.safe_load(path.read_text())
    assert config["includeObjectNames"], "scrape only the MBeans the rules use"
    names = [rule["name"] for rule in config["rules"]]
    assert len(names) == len(set(names)), f"{path.name}: a name is used twice"
    for rule in config["rules"]:
        groups = re.compile(rule["pattern"]).groups
        used = {int(n) for v in (rule.get("labels") or {}).values() for n in re.findall(r"\$(\d+)", str(v))}
        assert used <= set(range(1, groups + 1)), f"{rule['name']}: labels use groups {used}, pattern has {groups}"
        assert (rule.get("type") == "COUNTER") == rule["name"].endswith("_total"), rule["name"]
