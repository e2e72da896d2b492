"""Compare every configured MySQL table with its Iceberg and PostgreSQL current tables (row counts, a
per-key hash of all columns) and check that each history holds each change once, and every change the
Kafka topics hold: `make verify`.

Exit code 0: everything matches; 1: a difference (the differing keys are listed); 2: the check could
not run (configuration, connection or query error).
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdc_pipeline.config_loader import load_config  # noqa: E402
from cdc_pipeline.errors import PipelineError  # noqa: E402
from cdc_pipeline.verify import DEFAULT_LIMIT, exit_code, render_json, render_text, verify_pipeline  # noqa: E402
from stack.settings import with_stack_defaults  # noqa: E402

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class CheckFailed(Exception):
    """The check could not run; the message says what failed, for people."""


def connect_mysql(cfg):
    import pymysql
    try:
        # TIMESTAMP columns come back in the session time zone: UTC, the normal form of instants.
        return pymysql.connect(**cfg.connect_kwargs(), autocommit=True, charset="utf8mb4", connect_timeout=10,
                               init_command="SET time_zone = '+00:00'")
    except pymysql.MySQLError as err:
        raise CheckFailed(f"cannot connect to MySQL at {cfg.host}:{cfg.port} as {cfg.user!r}: {err} "
                          "(is the stack up? `make status`; settings: the mysql section of the config)") from err


def connect_postgres(cfg):
    import psycopg2
    try:
        conn = psycopg2.connect(**cfg.connect_kwargs(), connect_timeout=10)
    except psycopg2.Error as err:
        raise CheckFailed(f"cannot connect to PostgreSQL at {cfg.host}:{cfg.port}/{cfg.database} as {cfg.user!r}: "
                          f"{' '.join(str(err).split())} (is the stack up? `make status`)") from err
    # One snapshot for all reads of a table's current table and history.
    conn.set_session(readonly=True, isolation_level="REPEATABLE READ")
    return conn


def start_spark(config):
    from cdc_pipeline.spark_session import build_session
    try:
        spark = build_session(config, app_name="cdc-verify", master="local[1]",
                              extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"})
    except Exception as err:
        raise CheckFailed(f"cannot start Spark to read Iceberg and Kafka: {_first_line(err)}") from err
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # Py4J errors: the Java exception's message is the most useful line.
    java = [ln.strip() for ln in lines if "Exception:" in ln or "Error:" in ln]
    return (java[0] if java else lines[0])[:500]


class ProgressReport:
    """What the check is doing, on stderr: a bar with the current step on a terminal, one line per step
    otherwise (a log keeps the lines a bar would overwrite)."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def steps(self, total: int) -> None:
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}<{remaining}]")

    def __call__(self, message: str) -> None:
        if self.bar is not None:
            if self.bar.desc:
                self.bar.update(1)  # the step before this one is done
            self.bar.set_description_str(message)
        elif self.enabled:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None


def run(args, progress: ProgressReport) -> list:
    config = load_config(args.config, with_stack_defaults())
    names = [t.name for t in config.tables]
    unknown = [t for t in args.table if t not in names]
    if unknown:
        raise CheckFailed(f"--table {unknown[0]!r}: not a configured table (configured: {', '.join(names)})")
    selected = [t for t in config.tables if not args.table or t.name in args.table]
    wants_pg = any("postgres" in t.sinks for t in selected)
    progress.steps(2 * len(selected))  # per table: the current tables, then the histories against Kafka
    with closing(connect_mysql(config.mysql)) as mysql_conn:
        pg_conn = connect_postgres(config.postgres) if wants_pg else None
        try:
            # Spark reads Iceberg, and the Kafka topics for the completeness of both histories.
            spark = start_spark(config) if selected else None
            try:
                return verify_pipeline(config, mysql_conn, pg_conn, spark, tables=args.table or None,
                                       limit=args.limit, progress=progress)
            finally:
                if spark is not None:
                    spark.stop()
        finally:
            if pg_conn is not None:
                pg_conn.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="conf/pipeline.yaml", help="pipeline configuration (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help="keys listed per kind of difference (default: %(default)s)")
    parser.add_argument("--table", action="append", default=[], metavar="NAME",
                        help="check only this configured table (repeatable; default: all)")
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be >= 0")

    progress = ProgressReport(enabled=not args.json)
    try:
        reports = run(args, progress)
        if not reports:
            raise CheckFailed("no sink to check: the selected tables have no sinks")
    except Exception as err:  # anything that stops the check is exit code 2, with one clear line
        if isinstance(err, (CheckFailed, PipelineError)):
            message = str(err)
        else:
            message = f"{type(err).__name__}: {_first_line(err)}"
        if args.json:
            print(json.dumps({"status": "ERROR", "ok": False, "error": message}))
        progress.close()
        print(f"verify: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    progress.close()
    if args.json:
        print(json.dumps(render_json(reports, args.limit), indent=2))
    else:
        print(render_text(reports, args.limit))
    return exit_code(reports)


if __name__ == "__main__":
    sys.exit(main())
