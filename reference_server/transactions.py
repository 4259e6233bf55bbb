"""Ending a failed SQLite transaction without hiding why it failed.

On a full disk (SQLITE_FULL) or an I/O error SQLite may roll the transaction back by itself; an
explicit ROLLBACK then fails with "no transaction is active", and if that error propagated it would
replace the real one (a 500 instead of the named 507). And if a ROLLBACK fails while a transaction
really is open, the next BEGIN on that connection would fail for ever after. So: roll back only
what is open, never raise from here, and let the next transaction clear a stale one first.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("reference_server")


def roll_back(conn: sqlite3.Connection) -> None:
    """ROLLBACK if a transaction is still open; never raises (the caller re-raises the cause)."""
    if not conn.in_transaction:
        return  # SQLite already rolled it back (e.g. after SQLITE_FULL)
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as error:
        log.warning("ROLLBACK failed (%s); the next transaction on this connection retries it", error)


def begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, first closing a transaction a failed ROLLBACK left open."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute("BEGIN IMMEDIATE")
