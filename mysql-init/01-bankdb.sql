-- OLTP schema of the bank (seed 000), run once by `make up` on the first start of MariaDB.
CREATE DATABASE IF NOT EXISTS bankdb CHARACTER SET utf8mb4;
USE bankdb;

CREATE TABLE bank_accounts (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    user_id     BIGINT        NOT NULL,
    account     VARCHAR(100)  NOT NULL,
    balance     DECIMAL(18,2) NOT NULL DEFAULT 0.00,
    created_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY idx_bank_accounts_user (user_id)
) ENGINE=InnoDB;

-- Money movements on an account: a second table so that multi-table handling is real from day one,
-- with the column types a CDC decoder must get right (DECIMAL, DATE, DATETIME(3), BOOLEAN, ENUM).
CREATE TABLE transactions (
    id            BIGINT        NOT NULL AUTO_INCREMENT,
    account_id    BIGINT        NOT NULL,
    amount        DECIMAL(18,2) NOT NULL,
    txn_type      ENUM('DEPOSIT','WITHDRAWAL','TRANSFER_IN','TRANSFER_OUT','FEE') NOT NULL,
    description   VARCHAR(255)  NULL,
    booking_date  DATE          NOT NULL,
    occurred_at   DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    is_reversal   BOOLEAN       NOT NULL DEFAULT FALSE,
    PRIMARY KEY (id),
    KEY idx_transactions_account (account_id)
) ENGINE=InnoDB;

INSERT INTO bank_accounts (user_id, account, balance, created_at) VALUES
    (1001, 'KB Bank 110-234-567890',      1500000.00, '2024-01-05 09:12:00.000000'),
    (1001, 'Shinhan 100-029-384756',        25000.50, '2024-02-11 14:03:21.500000'),
    (1002, 'Woori 1002-345-678901',        870000.00, '2024-03-01 08:00:00.000000'),
    (1003, 'Hana 123-456789-01234',             0.00, '2024-03-15 17:45:10.250000'),
    (1004, 'NH 301-1234-5678-91',        99999999.99, '2024-04-20 11:30:00.000000');

INSERT INTO transactions (account_id, amount, txn_type, description, booking_date, occurred_at, is_reversal) VALUES
    (1,  500000.00, 'DEPOSIT',    'salary',         '2024-05-25', '2024-05-25 09:00:00.123', FALSE),
    (1,  -12000.00, 'FEE',        'monthly fee',    '2024-05-31', '2024-05-31 23:59:59.999', FALSE),
    (2,  -25000.50, 'WITHDRAWAL', 'ATM',            '2024-06-02', '2024-06-02 18:20:00.000', FALSE),
    (3,  100000.00, 'TRANSFER_IN', NULL,            '2024-06-03', '2024-06-03 07:15:42.001', FALSE),
    (2,   25000.50, 'WITHDRAWAL', 'ATM reversal',   '2024-06-04', '2024-06-04 10:00:00.000', TRUE);

-- Debezium's signal table (signal.data.collection in conf/debezium-*-connector.json): `make add-table`
-- and `make resnapshot` write an execute-snapshot row here to start an incremental snapshot; Debezium
-- writes its chunk watermarks here too (and deletes them: insert_delete).
CREATE TABLE debezium_signal (
    id    VARCHAR(64)   NOT NULL,
    type  VARCHAR(32)   NOT NULL,
    data  VARCHAR(2048) NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB;
