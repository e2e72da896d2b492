"""Errors the stack launcher reports to users; each message says what failed and where to look."""


class StackError(Exception):
    """Base class for every error the launcher raises on purpose."""


class JarError(StackError):
    """A pinned artifact is missing, cannot be fetched, or does not match its sha256."""


class ServiceError(StackError):
    """A service did not start, did not become healthy, or did not stop."""


class CaptureError(StackError):
    """A table cannot be added, removed or re-snapshotted (make add-table / remove-table / resnapshot)."""
