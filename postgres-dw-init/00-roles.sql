-- The pipeline's own role and the Iceberg catalog's database, run first and once by `make up` and by
-- the postgres image's entrypoint, as the administrator initdb created (CDC_PG_ADMIN_USER), in the
-- warehouse database. Names and the password come from the environment (psql's \getenv).
--
-- The role (CDC_PG_USER) is what the streaming job, `make verify` and the Iceberg JDBC catalog log in
-- as: it owns the warehouse tables (01-bankdw.sql runs as it; the job creates the tables of other
-- source tables) and the catalog's tables, and nothing more: not a superuser, no CREATEDB, no
-- CREATEROLE, no replication. The databases belong to the administrator.

\set ON_ERROR_STOP on
\getenv writer CDC_PG_USER
\getenv writer_password CDC_PG_PASSWORD
\getenv catalog_db CDC_PG_CATALOG_DATABASE
SELECT current_database() AS warehouse_db \gset

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'writer', :'writer_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'writer')
\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'warehouse_db', :'writer')
\gexec
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'writer')
\gexec

-- The Iceberg JDBC catalog creates its own tables on first use, in its own database.
SELECT format('CREATE DATABASE %I', :'catalog_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'catalog_db')
\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'catalog_db', :'writer')
\gexec
\connect :"catalog_db"
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'writer')
\gexec
\connect :"warehouse_db"
