"""One driver per checkpoint: a lease that a second driver on the same checkpoint cannot take.

Two drivers on one checkpoint (a second `make submit` on another host, or a zombie that lost its
network and came back) would run the same batches: the PostgreSQL ledger serialises them, but the
Iceberg change log's append reads what is logged before it writes, so two concurrent appends of one
batch could both write it. The lease is a PostgreSQL session-level advisory lock keyed by the
checkpoint's location, held by one connection for the driver's life:

* a driver takes it before it starts the path's query (before Spark writes anything to the
  checkpoint) and is refused, with who holds it, when another session has it;
* before each batch, and every few seconds while the query is idle, the driver checks that its session
  is still there; a session that ended (a PostgreSQL restart, a network split) released the lock, so
  the driver takes it again at once, or stops that path if someone else took it meanwhile.

The warehouse database is where the lease lives because every batch of both paths already needs it
(schema registry, dead letters).
"""
from __future__ import annotations

import logging
import os
import socket
import threading

from .errors import PipelineError
from .sinks.postgres import connect

log = logging.getLogger(__name__)


class LeaseHeld(PipelineError):
    """Another driver holds the checkpoint's lease."""


def lease_key(checkpoint_location: str) -> str:
    """The checkpoint as every driver names it: a URI as given, a local path made absolute."""
    location = checkpoint_location.rstrip("/")
    return location if "://" in location else os.path.abspath(location)


# The holder of an advisory lock on one bigint key: pg_locks splits the key into classid (high 32
# bits) and objid (low 32 bits), objsubid 1.
_HOLDER_SQL = """
    SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint"""


class CheckpointLease:
    def __init__(self, pg, checkpoint_location: str, query_name: str):
        self.pg = pg
        self.key = f"cdc-lease:{lease_key(checkpoint_location)}"
        self.query_name = query_name
        self.owner = f"{query_name} on {socket.gethostname()} pid {os.getpid()}"[:63]
        self._conn = None
        self._lock = threading.RLock()  # the batch thread and the keeper share the session
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def hold(self) -> None:
        """Make sure this driver holds the lease: take it the first time, after that check that the
        session holding it is alive (one round trip), and take it again if the session ended.
        Raises LeaseHeld when another session holds it."""
        with self._lock:
            self._hold()

    def _hold(self) -> None:
        if self._conn is not None:
            try:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return
            except Exception as err:  # noqa: BLE001 - any failure means the session (and lock) is gone
                log.warning("%s: the session holding the checkpoint lease ended (%s); taking it again",
                            self.query_name, str(err).strip()[:200])
                self._close()
        conn = connect(self.pg)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('application_name', %s, false)", (self.owner,))
                cur.execute("SELECT pg_try_advisory_lock(hashtext(%s)::bigint)", (self.key,))
                if not cur.fetchone()[0]:
                    cur.execute(_HOLDER_SQL, (self.key,))
                    holders = [f"PostgreSQL session {pid} ({name or 'no application name'}, from "
                               f"{addr or 'a local socket'}, since {start:%Y-%m-%d %H:%M:%S %Z})"
                               for pid, name, addr, start in cur.fetchall()]
                    raise LeaseHeld(
                        f"{self.query_name}: another driver runs on this checkpoint "
                        f"({self.key.removeprefix('cdc-lease:')}): {', '.join(holders) or 'a session that just ended'}. "
                        "Two drivers would apply the same batches; stop the other one (`make stop` where it "
                        "runs) or wait until its session ends.")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        log.info("%s: took the checkpoint lease (%s)", self.query_name, self.owner)

    def hold_if_reachable(self) -> None:
        """hold() before a query starts: refused when another driver holds the lease; when PostgreSQL
        cannot be reached, the query starts anyway and its first batch takes the lease (or fails)
        before it writes anything, as any batch does while the warehouse is down."""
        try:
            self.hold()
        except LeaseHeld:
            raise
        except Exception as err:  # noqa: BLE001 - unreachable: decided at the first batch
            log.warning("%s: cannot take the checkpoint lease yet (%s); the first batch takes it",
                        self.query_name, " ".join(str(err).split())[:300])

    def keep(self, interval_s: float = 5.0) -> None:
        """Check the lease every `interval_s` in a daemon thread, so an idle query (no batch runs without
        new records) takes it back right after its session ended, before another driver can."""
        if self._keeper is not None:
            return

        def run():
            while not self._stop.wait(interval_s):
                try:
                    self.hold()
                except LeaseHeld as err:
                    log.error("%s", err)
                except Exception:  # noqa: BLE001 - PostgreSQL unreachable: the next round tries again
                    pass

        self._keeper = threading.Thread(target=run, name=f"lease-{self.query_name}", daemon=True)
        self._keeper.start()

    def release(self) -> None:
        self._stop.set()
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session: PostgreSQL releases its advisory locks
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
