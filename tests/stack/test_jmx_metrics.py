"""The JMX exporter agents of the local stack (`make up`): the broker and Kafka Connect serve their own and
Debezium's metrics on 127.0.0.1 (CDC_KAFKA_METRICS_PORT, CDC_CONNECT_METRICS_PORT), with every metric the
rules of conf/jmx/ name, and with real values after a change in MySQL."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stack.errors import ServiceError
from stack.process import wait_until
from stack.services import service
from stack_support import BANK_ACCOUNTS_TOPIC, SETTINGS, mysql_connect

pytestmark = pytest.mark.integration

JMX_RULES = Path(__file__).resolve().parents[2] / "conf" / "jmx"
SCRAPE_TIMEOUT = 15  # seconds, per request
WAIT = 60  # seconds, for a value to appear after the change


def scrape(url: str) -> list:
    """The samples of one scrape of a Prometheus text endpoint."""
    response = requests.get(url, timeout=SCRAPE_TIMEOUT)
    response.raise_for_status()
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def rule_names(file: str) -> set[str]:
    return {rule["name"] for rule in yaml.safe_load((JMX_RULES / file).read_text())["rules"]}


def values(samples: list, name: str, **labels: str) -> list[float]:
    return [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def wait_for_value(url: str, name: str, condition, what: str, **labels: str) -> float:
    """Scrape `url` (bounded: WAIT seconds, one try a second) until `name{labels}` has a value that meets
    `condition`; fail with the names the endpoint served."""
    seen: dict[str, object] = {}

    def check():
        samples = scrape(url)
        seen["names"] = sorted({s.name for s in samples})
        seen["values"] = values(samples, name, **labels)
        return next((v for v in seen["values"] if condition(v)), None) is not None

    try:
        wait_until(check, WAIT, what, interval=1)
    except ServiceError as err:
        pytest.fail(f"{url}: {what}: {name}{labels} = {seen.get('values')}; {err}\n"
                    f"names served: {seen.get('names')}")
    return next(v for v in seen["values"] if condition(v))


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} has them) of the sockets listening on `port`."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            address, _, hex_port = cols[1].rpartition(":")
            if cols[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                out.add(address)
    return out


# 127.0.0.1 in /proc/net/tcp, ::ffff:127.0.0.1 and ::1 in /proc/net/tcp6
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def commit_a_change() -> None:
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                    (random.randint(10**9, 2 * 10**9), "JMX metrics test", "1.00"))
        cur.execute("DELETE FROM bank_accounts WHERE id = %s", (cur.lastrowid,))


def test_both_endpoints_listen_on_loopback_only_and_serve_every_metric_of_their_rules():
    for url, port, rules in ((SETTINGS.kafka_metrics_url, SETTINGS.kafka_metrics_port, "kafka-broker.yaml"),
                             (SETTINGS.connect_metrics_url, SETTINGS.connect_metrics_port, "kafka-connect.yaml")):
        addresses = listening_addresses(port)
        assert addresses and addresses <= LOOPBACK, f"port {port} listens on {addresses}, not loopback only"
        samples = scrape(url)
        served = {s.name for s in samples}
        missing = sorted(rule_names(rules) - served)
        assert not missing, f"{url}: rules of conf/jmx/{rules} that matched no MBean: {missing}\n" \
                            f"names served: {sorted(served)}"
        assert values(samples, "jmx_scrape_error") == [0.0], f"{url}: the agent reports a scrape error"
    # `make status` points at both.
    assert f"metrics: {SETTINGS.kafka_metrics_url}" in service(SETTINGS, "kafka").details()[0]
    assert f"metrics: {SETTINGS.connect_metrics_url}" in service(SETTINGS, "connect").details()[0]


def test_a_change_shows_in_the_brokers_and_debeziums_metrics():
    commit_a_change()
    messages = wait_for_value(SETTINGS.kafka_metrics_url, "kafka_server_messages_in_total", lambda v: v > 0,
                              "the broker counts messages into the Debezium topic", topic=BANK_ACCOUNTS_TOPIC)
    assert messages >= 1
    url = SETTINGS.connect_metrics_url
    behind = wait_for_value(url, "debezium_streaming_milliseconds_behind_source", lambda v: v >= 0,
                            "Debezium's MilliSecondsBehindSource (streaming context)", plugin="mariadb")
    assert behind < 10 * 60 * 1000, f"Debezium is {behind} ms behind MySQL"
    wait_for_value(url, "debezium_streaming_connected", lambda v: v == 1, "Debezium connected to the binlog",
                   plugin="mariadb")
    wait_for_value(url, "debezium_events_seen_total", lambda v: v >= 2, "Debezium's events (streaming)",
                   plugin="mariadb", context="streaming")
    connector = service(SETTINGS, "connect").connector_name
    wait_for_value(url, "kafka_connect_connector_status", lambda v: v == 1, "the connector is running",
                   connector=connector, status="running")
    wait_for_value(url, "kafka_connect_task_status", lambda v: v == 1, "the connector's task is running",
                   connector=connector, task="0", status="running")
    samples = scrape(url)
    capacity = values(samples, "debezium_queue_total_capacity", plugin="mariadb", context="streaming")
    remaining = values(samples, "debezium_queue_remaining_capacity", plugin="mariadb", context="streaming")
    assert capacity and remaining and 0 <= remaining[0] <= capacity[0] and capacity[0] > 0, (capacity, remaining)
