-- Warehouse schema (seed 000), run once by `make up` on the first start of PostgreSQL (and by the
-- postgres image's entrypoint), in the warehouse database, as the pipeline's role (00-roles.sql), so
-- that role owns these tables. The streaming job creates the same three tables for any other
-- configured source table, and adds columns when MySQL gains them.
--
-- Metadata columns start with an underscore so they can never collide with a source column:
--   _op           Debezium operation: r (snapshot read), c (insert), u (update), d (delete)
--   _change_type  the same for people: SNAPSHOT / INSERT / UPDATE / DELETE
--   _seq          order of the change in MySQL: from the binlog coordinates (file number, position,
--                 row), numeric; larger is later
--   _source_ts    when the change was committed in MySQL
--   _binlog_*     the binlog coordinates themselves
--   _kafka_*      where the change event sits in Kafka (unique per event)
--   _batch_id     the streaming micro-batch that loaded the row

\set ON_ERROR_STOP on
\getenv writer CDC_PG_USER
SET ROLE :"writer";

CREATE TABLE bank_accounts_history (
    _history_id       BIGSERIAL      PRIMARY KEY,
    _op               CHAR(1)        NOT NULL CHECK (_op IN ('r', 'c', 'u', 'd')),
    _change_type      TEXT           GENERATED ALWAYS AS (
                          CASE _op WHEN 'r' THEN 'SNAPSHOT' WHEN 'c' THEN 'INSERT'
                                   WHEN 'u' THEN 'UPDATE' ELSE 'DELETE' END) STORED,
    _seq              NUMERIC(38, 0) NOT NULL,
    _source_ts        TIMESTAMPTZ    NOT NULL,
    -- the row after the change (for a delete: the row that was deleted)
    id                BIGINT         NOT NULL,
    user_id           BIGINT,
    account           VARCHAR(100),
    balance           NUMERIC(18, 2),
    created_at        TIMESTAMP(6),
    updated_at        TIMESTAMPTZ(6),
    _before           JSONB,          -- the row before an update or delete
    _binlog_file      TEXT,
    _binlog_pos       BIGINT,
    _binlog_row       INTEGER,
    _kafka_topic      TEXT           NOT NULL,
    _kafka_partition  INTEGER        NOT NULL,
    _kafka_offset     BIGINT         NOT NULL,
    _batch_id         BIGINT         NOT NULL,
    _loaded_at        TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CONSTRAINT bank_accounts_history_event_once UNIQUE (_kafka_topic, _kafka_partition, _kafka_offset)
);
CREATE INDEX bank_accounts_history_key_seq ON bank_accounts_history (id, _seq);
CREATE INDEX bank_accounts_history_source_ts ON bank_accounts_history (_source_ts);

CREATE TABLE bank_accounts_current (
    id                BIGINT         PRIMARY KEY,
    user_id           BIGINT,
    account           VARCHAR(100),
    balance           NUMERIC(18, 2),
    created_at        TIMESTAMP(6),
    updated_at        TIMESTAMPTZ(6),
    _op               CHAR(1)        NOT NULL,
    _seq              NUMERIC(38, 0) NOT NULL,
    _source_ts        TIMESTAMPTZ    NOT NULL,
    _batch_id         BIGINT         NOT NULL,
    _loaded_at        TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX bank_accounts_current_user_id ON bank_accounts_current (user_id);  -- the name the job uses (postgres_sql)

-- Per user, recomputed exactly from bank_accounts_current for the users a batch touched.
CREATE TABLE user_account_stats (
    user_id           BIGINT         PRIMARY KEY,
    account_count     INTEGER        NOT NULL,
    total_balance     NUMERIC(20, 2) NOT NULL,
    min_balance       NUMERIC(18, 2),
    max_balance       NUMERIC(18, 2),
    first_opened_at   TIMESTAMP(6),
    last_change_ts    TIMESTAMPTZ,    -- latest MySQL commit time among the user's accounts
    _batch_id         BIGINT         NOT NULL,
    _updated_at       TIMESTAMPTZ    NOT NULL DEFAULT now()
);

-- One row per applied micro-batch, written in the same transaction as the batch's rows: a batch
-- that is replayed after a crash finds its row and is not applied twice.
CREATE TABLE cdc_batches (
    query_id          TEXT           NOT NULL,
    batch_id          BIGINT         NOT NULL,
    end_offsets       JSONB,
    rows_in           BIGINT         NOT NULL DEFAULT 0,
    snapshots         BIGINT         NOT NULL DEFAULT 0,
    inserts           BIGINT         NOT NULL DEFAULT 0,
    updates           BIGINT         NOT NULL DEFAULT 0,
    deletes           BIGINT         NOT NULL DEFAULT 0,
    tombstones        BIGINT         NOT NULL DEFAULT 0,
    dead_letters      BIGINT         NOT NULL DEFAULT 0,
    committed_at      TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (query_id, batch_id)
);

-- Change events that could not be decoded or applied, with the reason; the stream goes on.
CREATE TABLE cdc_dead_letters (
    dead_letter_id    BIGSERIAL      PRIMARY KEY,
    kafka_topic       TEXT           NOT NULL,
    kafka_partition   INTEGER        NOT NULL,
    kafka_offset      BIGINT         NOT NULL,
    kafka_timestamp   TIMESTAMPTZ,
    kafka_key         BYTEA,
    kafka_value       BYTEA,
    error_kind        TEXT           NOT NULL,
    reason            TEXT           NOT NULL,
    query_id          TEXT,
    batch_id          BIGINT,
    failed_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CONSTRAINT cdc_dead_letters_event_once UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);

-- The same, with key and value as text (invalid UTF-8 shown escaped) for people reading it.
CREATE VIEW cdc_dead_letters_readable AS
SELECT dead_letter_id, kafka_topic, kafka_partition, kafka_offset, kafka_timestamp,
       encode(kafka_key, 'escape') AS kafka_key, encode(kafka_value, 'escape') AS kafka_value,
       error_kind, reason, batch_id, failed_at
FROM cdc_dead_letters;

RESET ROLE;
