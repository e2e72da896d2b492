"""The control plane's tables on a fresh warehouse: the two paths of the job create them at the same
moment, and neither may fail for it."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from contextlib import closing, contextmanager

import pytest

from cdc_pipeline.config import PipelineConfig
from cdc_pipeline.control import ControlPlane
from pipeline_support import CONFIG
from stack_support import SETTINGS, pg_admin_connect, pg_connect

pytestmark = pytest.mark.integration


@contextmanager
def fresh_database():
    """A throwaway database: the warehouse's own control tables exist already."""
    name = f"cdc_fresh_{uuid.uuid4().hex[:8]}"
    admin = pg_admin_connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
            cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{SETTINGS.pg_user}"')
        with closing(pg_admin_connect(name)) as conn, conn, conn.cursor() as cur:
            cur.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{SETTINGS.pg_user}"')
        yield name
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.close()


def test_both_paths_prepare_the_control_tables_at_once():
    rounds, paths = 8, 4
    with fresh_database() as database:
        config: PipelineConfig = dataclasses.replace(
            CONFIG, postgres=dataclasses.replace(CONFIG.postgres, database=database))
        for attempt in range(rounds):
            with pg_connect(database) as conn, conn.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS cdc_sink_schemas, cdc_stage_dead_letters")
            start, errors = threading.Barrier(paths), []

            def prepare(sink: str) -> None:
                plane = ControlPlane(config, sink)
                start.wait(30)
                try:
                    plane.registered_schemas()
                except Exception as error:  # noqa: BLE001 - the test reports every failure
                    errors.append(f"{sink}: {error}")

            threads = [threading.Thread(target=prepare, args=(f"path{i}",)) for i in range(paths)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert errors == [], f"round {attempt + 1}: {errors}"
