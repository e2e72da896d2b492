"""Workloads on bankdb (mysql-init/01-bankdb.sql), bounded in changes or time, optionally paced:

- RandomWorkload: inserts, updates and deletes of accounts and transactions in small transactions, many
  changes per key. Used by the tests, the chaos test and the benchmarks; `python -m stack workload
  --changes N [--rate R]` runs it by hand.
- TransferWorkload: bank transfers between a set of accounts of its own, each one MySQL transaction of
  two balance updates and two `transactions` rows, so the accounts' balance sum never changes in MySQL
  (the transaction-consistent apply test and `make bench-latency`).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from decimal import Decimal


def mysql_connect(settings, database: str = "bankdb"):
    """An autocommit connection as the stack's application user (mysql-init grants it bankdb)."""
    import pymysql
    return pymysql.connect(host=settings.host, port=settings.mysql_port, user=settings.mysql_user,
                           password=settings.mysql_password, database=database, autocommit=True)


class PacedWorkload:
    """`run` calls `transaction` (one MySQL transaction; returns the rows it changed) until a bound."""
    executed: int

    def transaction(self, conn) -> int:
        raise NotImplementedError

    def run(self, conn, changes: int | None = None, seconds: float | None = None, rate: float | None = None,
            should_stop=lambda: False) -> int:
        """Transactions until `changes` rows changed or `seconds` passed (at least one bound), at about
        `rate` changes per second if given; returns the rows changed."""
        if changes is None and seconds is None:
            raise ValueError("give changes, seconds or both: the workload must be bounded")
        start = time.monotonic()
        first = self.executed
        while not should_stop():
            done = self.executed - first
            elapsed = time.monotonic() - start
            if (changes is not None and done >= changes) or (seconds is not None and elapsed >= seconds):
                break
            if rate:
                ahead = done / rate - elapsed
                if ahead > 0:
                    time.sleep(min(ahead, 1.0))
                    continue
            self.transaction(conn)
        return self.executed - first


@dataclass
class RandomWorkload(PacedWorkload):
    seed: int
    live: list[int] = field(default_factory=list)  # bank_accounts ids this workload created and not deleted
    txns: list[int] = field(default_factory=list)
    executed: int = 0  # rows changed so far (each is one change event)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.user_base = self.rng.randint(10**10, 2 * 10**10)

    def transaction(self, conn) -> int:
        """One transaction of 1-8 statements; returns the rows it changed."""
        rng = self.rng
        before = self.executed
        conn.begin()
        with conn.cursor() as cur:
            for _ in range(rng.randint(1, 8)):
                roll = rng.random()
                if roll < 0.25 or len(self.live) < 20:
                    cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                                (self.user_base + rng.randint(0, 30), f"w{self.seed}-{self.executed}",
                                 Decimal(rng.randint(-10**6, 10**8)) / 100))
                    self.live.append(cur.lastrowid)
                elif roll < 0.75:
                    cur.execute("UPDATE bank_accounts SET balance = balance + %s, user_id = %s WHERE id = %s",
                                (Decimal(rng.randint(1, 10**5)) / 100, self.user_base + rng.randint(0, 30),
                                 rng.choice(self.live)))
                elif roll < 0.85:
                    victim = self.live.pop(rng.randrange(len(self.live)))
                    cur.execute("DELETE FROM bank_accounts WHERE id = %s", (victim,))
                elif roll < 0.95 or not self.txns:
                    cur.execute("INSERT INTO transactions (account_id, amount, txn_type, booking_date, is_reversal) "
                                "VALUES (%s, %s, 'DEPOSIT', CURRENT_DATE, %s)",
                                (rng.choice(self.live), Decimal(rng.randint(1, 10**6)) / 100, rng.random() < 0.1))
                    self.txns.append(cur.lastrowid)
                else:
                    cur.execute("UPDATE transactions SET amount = amount + 1, description = %s WHERE id = %s",
                                (f"d{self.executed}", rng.choice(self.txns)))
                self.executed += cur.rowcount
        conn.commit()
        return self.executed - before


@dataclass
class TransferWorkload(PacedWorkload):
    """Transfers among `accounts` accounts of one user id of its own (from the seed), opened with
    `opening_balance` each in one transaction: their balance sum is `total` in MySQL at every commit,
    and the amounts of their `transactions` rows sum to zero."""
    seed: int
    accounts: int = 40
    opening_balance: Decimal = Decimal("1000.00")
    ids: list[int] = field(default_factory=list)
    executed: int = 0

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.user_id = 9 * 10**12 + self.seed

    @property
    def total(self) -> Decimal:
        return self.accounts * self.opening_balance

    def open(self, conn) -> None:
        conn.begin()
        with conn.cursor() as cur:
            for n in range(self.accounts):
                cur.execute("INSERT INTO bank_accounts (user_id, account, balance) VALUES (%s, %s, %s)",
                            (self.user_id, f"transfer-{self.seed}-{n}", self.opening_balance))
                self.ids.append(cur.lastrowid)
        conn.commit()
        self.executed += self.accounts

    def transaction(self, conn) -> int:
        if not self.ids:
            raise RuntimeError("open() the accounts first")
        source, target = self.rng.sample(self.ids, 2)
        amount = Decimal(self.rng.randint(1, 5000)) / 100
        conn.begin()
        with conn.cursor() as cur:
            cur.execute("UPDATE bank_accounts SET balance = balance - %s WHERE id = %s", (amount, source))
            cur.execute("UPDATE bank_accounts SET balance = balance + %s WHERE id = %s", (amount, target))
            cur.executemany("INSERT INTO transactions (account_id, amount, txn_type, description, booking_date) "
                            "VALUES (%s, %s, %s, %s, CURRENT_DATE)",
                            [(source, -amount, "TRANSFER_OUT", f"to {target}"), (target, amount, "TRANSFER_IN", f"from {source}")])
        conn.commit()
        self.executed += 4
        return 4
