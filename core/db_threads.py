"""Database work of websocket consumers that may run in parallel, off the single thread.

``database_sync_to_async`` runs every call of a process on one thread (thread
sensitive by default): one daphne process then does one socket's database work at
a time, however many annotators are connected. Work that is safe to run at once
(each call its own statements, in its own transaction: a label, a lease) goes
through ``in_db_thread`` instead: a pool of WEBSOCKET_DB_THREADS threads, each
keeping its own database connection for the life of the process (opening one per
call costs more than a label's statements). So a web process holds at most
WEBSOCKET_DB_THREADS + 1 connections, whatever the number of sockets.

A connection that failed (the database restarted) is closed before the next call
on its thread, which then opens a new one; one left in a transaction is rolled back.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.WEBSOCKET_DB_THREADS,
                                       thread_name_prefix="websocket-db")
        return _pool


def _healthy_connections() -> None:
    """Close this thread's connections that cannot be used again (Django's
    close_old_connections, without the age limit: these are kept on purpose)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.in_atomic_block or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
            conn.close()
        elif conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


def _call(fn, args, kwargs):
    _healthy_connections()
    return fn(*args, **kwargs)


async def in_db_thread(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` on a pool thread with its own database connection."""
    return await sync_to_async(_call, thread_sensitive=False, executor=_executor())(
        fn, args, kwargs)
