"""The job's Prometheus metrics (cdc_pipeline.metrics.PrometheusExporter) from Spark's progress JSON and
the batch writer's counts, and its /metrics endpoint."""
from __future__ import annotations

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from cdc_pipeline.metrics import PrometheusExporter

PROGRESS = {
    "name": "q.postgres", "batchId": 7, "numInputRows": 120, "inputRowsPerSecond": 60.0,
    "processedRowsPerSecond": 240.5, "durationMs": {"triggerExecution": 1500},
    "sources": [{"startOffset": {"t": {"0": 0}}, "endOffset": {"t": {"0": 120, "1": 5}, "u": {"0": 3}},
                 "latestOffset": {"t": {"0": 150, "1": 5}, "u": {"0": 3}}}],
}
STATS = {"snapshots": 0, "inserts": 70, "updates": 30, "deletes": 20, "new_dead_letters": 2, "plan_s": 0.4,
         "postgres_s": 0.9}


def samples(exporter) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(exporter.text().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_a_batch_sets_the_gauges_and_adds_to_the_counters():
    exporter = PrometheusExporter()
    exporter.query_started("q.postgres")
    exporter.batch_done(PROGRESS, STATS)
    exporter.batch_done({**PROGRESS, "batchId": 8, "numInputRows": 0}, {})  # an idle trigger: lag only
    got = samples(exporter)
    q = (("query", "q.postgres"),)
    assert got[("cdc_last_batch_id", q)] == 7
    assert got[("cdc_input_rows_total", q)] == 120
    assert got[("cdc_processed_rows_per_second", q)] == 240.5
    assert got[("cdc_offsets_behind_latest", (("query", "q.postgres"), ("topic", "t")))] == 30
    assert got[("cdc_offsets_behind_latest", (("query", "q.postgres"), ("topic", "u")))] == 0
    assert got[("cdc_batch_seconds", (("query", "q.postgres"), ("step", "trigger")))] == 1.5
    assert got[("cdc_batch_seconds", (("query", "q.postgres"), ("step", "postgres")))] == 0.9
    assert got[("cdc_changes_total", (("op", "c"), ("query", "q.postgres")))] == 70
    assert got[("cdc_changes_total", (("op", "d"), ("query", "q.postgres")))] == 20
    assert got[("cdc_dead_letters_total", q)] == 2
    assert got[("cdc_query_starts_total", q)] == 1 and got[("cdc_query_up", q)] == 1
    assert got[("cdc_last_batch_timestamp_seconds", q)] > 1.7e9
    exporter.query_ended("q.postgres")
    assert samples(exporter)[("cdc_query_up", q)] == 0


def test_the_endpoint_serves_the_text_format_and_a_taken_port_is_no_crash():
    exporter = PrometheusExporter()
    exporter.query_started("q.iceberg")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = exporter.serve("127.0.0.1", port)
    assert url == f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    assert 'cdc_query_up{query="q.iceberg"} 1.0' in body
    assert PrometheusExporter().serve("127.0.0.1", port) is None  # taken: logged, the job goes on
