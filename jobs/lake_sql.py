"""Run SQL against the Iceberg lakehouse with the job's own catalog settings: `make lake-sql Q="..."`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdc_pipeline.config_loader import load_config  # noqa: E402
from cdc_pipeline.spark_session import build_session  # noqa: E402
from stack.settings import with_stack_defaults  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sql", help="e.g. \"SELECT * FROM lake.cdc.bank_accounts_current ORDER BY id\"")
    parser.add_argument("--config", default="conf/pipeline.yaml")
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args(argv)
    # CDC_* overrides as `make submit` applies them (a moved S3 port moves the endpoint too)
    spark = build_session(load_config(args.config, with_stack_defaults()), app_name="cdc-lake-sql", master="local[1]",
                          extra={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql(args.sql).show(args.rows, truncate=False)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
