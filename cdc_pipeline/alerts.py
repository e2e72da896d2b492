"""Failure alerts: a Slack-compatible webhook, at most one message per condition per interval.

Conditions: the streaming query failed (and, after the last restart, failed for good), a Kafka
Connect connector or task is FAILED, a micro-batch sent too many records to the dead letters.
Sending never raises: an unreachable webhook is logged and the job goes on.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
SOURCE = "cdc-pipeline"


def slack_payload(condition: str, summary: str, details: dict[str, str]) -> dict:
    """`text` is what Slack shows; the attachment fields carry the details (Slack's legacy format)."""
    return {
        "text": f"[{SOURCE}] {condition}: {summary}",
        "attachments": [{
            "color": "danger",
            "fields": [{"title": k, "value": str(v)[:1500], "short": len(str(v)) < 40} for k, v in details.items()],
        }],
    }


def redacted_url(url: str) -> str:
    """The webhook's scheme and host only: a Slack-style webhook's path (and any query or user info) is
    its credential, so logs and errors never show it."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme else "<webhook>"


def post_json(url: str, payload: dict, timeout: float = 10.0) -> None:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL from config
        response.read()


class Alerter:
    """Rate-limited per condition key (e.g. `connector:mysql-connector:task-0`)."""

    def __init__(self, webhook_url: str | None, min_interval_s: float,
                 post: Callable[[str, dict], None] = post_json, clock: Callable[[], float] = time.monotonic):
        self.webhook_url = webhook_url
        self.min_interval_s = min_interval_s
        self.post = post
        self.clock = clock
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> bool:
        """True (and the condition marked as sent now) if `key` was not alerted within the interval."""
        now = self.clock()
        with self._lock:
            last = self._last_sent.get(key)
            if last is not None and now - last < self.min_interval_s:
                return False
            self._last_sent[key] = now
            return True

    def alert(self, key: str, condition: str, summary: str, details: dict[str, str] | None = None) -> bool:
        """Log the condition; post it unless the same key was posted within the interval. True if posted."""
        log.error("ALERT %s: %s", condition, summary)
        if self.webhook_url is None or not self.due(key):
            return False
        try:
            self.post(self.webhook_url, slack_payload(condition, summary, details or {}))
            return True
        except (OSError, urllib.error.URLError, ValueError) as err:
            url = redacted_url(self.webhook_url)
            log.warning("alert webhook %s failed: %s", url, str(err).replace(self.webhook_url, url))
            return False


def failed_components(connectors: dict) -> list[tuple[str, str, str]]:
    """(key, what, trace) for each FAILED connector or task in Connect's `GET /connectors?expand=status`."""
    out = []
    for name, entry in sorted((connectors or {}).items()):
        status = (entry or {}).get("status") or {}
        connector = status.get("connector") or {}
        if connector.get("state") == "FAILED":
            out.append((f"connector:{name}", f"connector {name}", connector.get("trace") or ""))
        for task in status.get("tasks") or []:
            if task.get("state") == "FAILED":
                out.append((f"connector:{name}:task-{task.get('id')}", f"connector {name} task {task.get('id')}",
                            task.get("trace") or ""))
    return out


def connect_status(connect_url: str, timeout: float = 10.0) -> dict:
    with urllib.request.urlopen(f"{connect_url}/connectors?expand=status", timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


class ConnectorWatcher(threading.Thread):
    """Asks Kafka Connect every `interval_s` and alerts on FAILED connectors and tasks."""

    def __init__(self, connect_url: str, interval_s: float, alerter: Alerter,
                 fetch: Callable[[str], dict] = connect_status):
        super().__init__(name="connector-watcher", daemon=True)
        self.connect_url = connect_url
        self.interval_s = interval_s
        self.alerter = alerter
        self.fetch = fetch
        self.stopped = threading.Event()

    def check(self) -> list[str]:
        try:
            connectors = self.fetch(self.connect_url)
        except (OSError, ValueError) as err:
            log.warning("cannot read connector status from %s: %s", self.connect_url, err)
            return []
        keys = []
        for key, what, trace in failed_components(connectors):
            first_line = trace.strip().splitlines()[0] if trace.strip() else "no trace"
            self.alerter.alert(key, "connector failed", f"{what} is FAILED: {first_line[:300]}",
                               {"connect": self.connect_url, "trace": trace[:1500]})
            keys.append(key)
        return keys

    def run(self) -> None:
        while True:
            self.check()
            if self.stopped.wait(self.interval_s):
                return

    def stop(self) -> None:
        self.stopped.set()
