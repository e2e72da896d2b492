import pytest

from stack_support import ensure_stack_up


@pytest.fixture
def restore_stack():
    """For tests that stop or kill services: whatever happens, leave the whole stack running."""
    yield
    ensure_stack_up()


# Foundations first, the streaming job last: its session-scoped fixture then stops it right at the
# end, instead of leaving it running while the stack tests restart the broker and Connect.
SUITE_ORDER = ("tests/unit/", "tests/stack/", "tests/kafka_source/", "tests/pipeline/")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid
        return next((i for i, prefix in enumerate(SUITE_ORDER) if path.startswith(prefix)), len(SUITE_ORDER))

    items.sort(key=rank)  # stable: the order inside each part is unchanged
