"""Retrying an Iceberg commit that lost a race with another writer.

The streaming job and the compaction job write the same tables. Iceberg's optimistic concurrency lets
one of two conflicting commits fail (a MERGE whose position deletes point at files a compaction just
replaced; a compaction whose files got new deletes meanwhile). A statement may also lose a race before
its commit: a maintenance run that rewrote files and then expired the snapshot the statement is
reading deletes files under it (Iceberg's NotFoundException for a data or delete file), or expired the
snapshot it started from ("Snapshot … is not an ancestor of …" when its commit validates). Both writers
are safe to re-run: the stream's MERGEs are guarded by sequence and dedup key, its appends check what
is already logged, a compaction only rewrites what is still small. So such a failure is retried with
backoff, on a fresh snapshot, instead of failing the query.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Iceberg raises these when a concurrent commit changed what this one was based on, removed a file of
# the snapshot it reads (S3FileIO: "Location does not exist", HadoopFileIO: "File does not exist"), or
# expired the snapshot it started from (the commit's validation cannot walk back to it).
_CONFLICT = re.compile(r"org\.apache\.iceberg\.exceptions\.(ValidationException|CommitFailedException)"
                       r"|\b(ValidationException|CommitFailedException): "
                       r"|\bNotFoundException: (Location|File) does not exist"
                       r"|\bSnapshot -?\d+ is not an ancestor of -?\d+")


def exception_text(error: BaseException) -> str:
    """Everything the error says, Java causes included (Py4JJavaError or a PySpark captured error)."""
    parts = [f"{type(error).__name__}: {error}"]
    java = getattr(error, "java_exception", None)
    if java is not None:
        try:
            parts.append(java.toString())
            cause = java.getCause()
            for _ in range(20):
                if cause is None:
                    break
                parts.append(cause.toString())
                cause = cause.getCause()
        except Exception:  # the gateway may be gone; the Python text is still useful
            pass
    for attr in ("_stackTrace", "_desc"):
        value = getattr(error, attr, None)
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


def is_commit_conflict(text: str) -> bool:
    return _CONFLICT.search(text) is not None


def backoff_seconds(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): 1, 2, 4, ... capped."""
    return min(cap, base * 2 ** (attempt - 1))


def with_conflict_retries(action: Callable[[], T], retries: int, what: str,
                          sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """Run `action`; on a commit conflict run it again, at most `retries` more times.

    Returns (result, attempts). Any other error, or a conflict after the last retry, propagates.
    """
    attempt = 1
    while True:
        try:
            return action(), attempt
        except Exception as error:  # noqa: BLE001 - filtered just below
            if attempt > retries or not is_commit_conflict(exception_text(error)):
                raise
            wait = backoff_seconds(attempt)
            log.warning("%s: commit conflict with a concurrent writer (attempt %d of %d), retrying in %.0fs: %s",
                        what, attempt, retries + 1, wait, str(error).splitlines()[0][:300] if str(error) else "")
            sleep(wait)
            attempt += 1
