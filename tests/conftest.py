import pytest

from stack_support import ensure_stack_up


@pytest.fixture
def restore_stack():
    """For tests that stop or kill services: whatever happens, leave the whole stack running."""
    yield
    ensure_stack_up()
