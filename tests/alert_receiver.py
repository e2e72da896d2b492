"""A local webhook receiver (loopback HTTP server) that records the JSON payloads alerts post."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AlertReceiver:
    def __init__(self):
        self.payloads: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cdc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        with self._lock:
            return [p.get("text", "") for p in self.payloads]

    def wait_for(self, predicate, timeout: float, what: str) -> list[dict]:
        """The payloads whose text satisfies `predicate`, once there is one (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [p for p in self.payloads if predicate(p.get("text", ""))]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no alert for {what} within {timeout:.0f}s; received: {self.texts()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
