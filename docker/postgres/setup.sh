#!/bin/sh
# postgres-setup (docker-compose.yml): one-shot and idempotent, after postgres is healthy.
#
# The official image's entrypoint created the warehouse database (POSTGRES_DB) and ran postgres-dw-init/*.sql
# in it; the Iceberg JDBC catalog lives in a database of its own, which `make up` creates too
# (stack/services.py, PostgreSQL.after_start).
set -eu
export PGPASSWORD="$CDC_PG_PASSWORD"

# psql variables (:'db', :"db") quote the names; \gexec runs the CREATE only when the database is missing.
psql -h "$CDC_PG_HOST" -p "$CDC_PG_PORT" -U "$CDC_PG_USER" -d postgres -v ON_ERROR_STOP=1 -q \
     -v db="$CDC_PG_CATALOG_DATABASE" -v owner="$CDC_PG_USER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL
echo "postgres: database $CDC_PG_CATALOG_DATABASE exists"
