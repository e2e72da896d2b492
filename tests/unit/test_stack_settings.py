"""The stack's settings as the tools outside `make submit` see them (`make verify`, `make lake-sql`)."""
from __future__ import annotations

from stack.settings import with_stack_defaults


def test_a_moved_port_moves_the_derived_endpoints_and_a_set_variable_wins():
    env = with_stack_defaults({"CDC_S3_PORT": "9444", "CDC_KAFKA_PORT": "19092", "CDC_PG_HOST": "db.internal"})
    assert env["CDC_S3_ENDPOINT"] == "http://127.0.0.1:9444"
    assert env["CDC_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
    assert env["CDC_PG_HOST"] == "db.internal"  # set: kept


def test_administrator_passwords_are_not_handed_on():
    env = with_stack_defaults({"CDC_PG_ADMIN_PASSWORD": "", "CDC_MYSQL_ROOT_PASSWORD": ""})
    assert env["CDC_PG_USER"] == "dwuser" and "dwadminpassword" not in env.values() and "rootpw" not in env.values()


def test_settings_the_stack_refuses_leave_the_environment_as_it_is():
    assert with_stack_defaults({"CDC_HOST": "10.0.0.1", "X": "1"}) == {"CDC_HOST": "10.0.0.1", "X": "1"}
