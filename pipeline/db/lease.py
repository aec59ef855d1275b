"""Leases: locks in the state database that expire unless their holder renews them.

A lease is a row of ``leases`` (name, holder, expires_at). :func:`acquire` takes it in one
statement (an upsert that only replaces a row whose lease expired or that the same holder
holds), so two machines can never both hold it. :class:`Lease` renews it from a background
thread every ``beat`` seconds while the holder lives; a process that is killed (SIGKILL, a
lost machine) stops renewing, and after ``ttl`` seconds anyone may take it. The clock is
the database server's (:meth:`StateDB.now`), so machines' clocks need not agree.

An episode's run holds ``episode:<id>``; the fetch of a source, before its episode id is
known, holds ``source:<key hash>`` (:mod:`pipeline.run.state`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import pipeline.db.schema as schema
from pipeline.db.core import StateDB

TTL = 60.0  # seconds a lease lasts without a renewal
BEAT = 15.0  # seconds between renewals


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: ``info`` says pid, host and since when (for the refusal message)."""

    holder: str
    expires_at: float
    info: dict[str, Any]


def new_holder() -> str:
    """A holder id unique to this process and call (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def is_dead(holder: str) -> bool:
    """True when ``holder`` (see :func:`new_holder`) is a process of this machine that is
    gone: its lease need not wait for its expiry. Another machine's holder is never known
    dead here; its lease expires."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is dead too (Linux)
        stat = Path(f"/proc/{pid_text}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def acquire(
    db: StateDB, name: str, holder: str, *, ttl: float = TTL, info: dict[str, Any] | None = None
) -> bool:
    """Take (or renew) lease ``name`` for ``holder`` for ``ttl`` seconds; False when another
    holder's lease on it has not expired (and that holder is not a dead process of this
    machine, :func:`is_dead`)."""
    with db.begin() as conn:
        now = db.now(conn)
        current = conn.execute(
            sa.select(schema.leases.c.holder).where(schema.leases.c.name == name)
        ).scalar_one_or_none()
        if current is not None and current != holder and is_dead(current):
            conn.execute(
                schema.leases.delete().where(
                    schema.leases.c.name == name, schema.leases.c.holder == current
                )
            )
        values = {
            "name": name,
            "holder": holder,
            "expires_at": now + ttl,
            "acquired_at": now,
            "info": json.dumps(info or {}),
        }
        stmt = db.insert(schema.leases).values(**values)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[schema.leases.c.name],
            set_={
                "holder": excluded.holder,
                "expires_at": excluded.expires_at,
                "acquired_at": sa.case(
                    (schema.leases.c.holder == excluded.holder, schema.leases.c.acquired_at),
                    else_=excluded.acquired_at,
                ),
                "info": excluded.info,
            },
            where=sa.or_(schema.leases.c.holder == holder, schema.leases.c.expires_at < now),
        )
        conn.execute(stmt)
        row = conn.execute(
            sa.select(schema.leases.c.holder).where(schema.leases.c.name == name)
        ).scalar_one_or_none()
    return row == holder


def renew(db: StateDB, name: str, holder: str, *, ttl: float = TTL) -> bool:
    """Extend ``holder``'s lease ``name`` by ``ttl`` from now; False when it is no longer
    theirs (it expired and another took it)."""
    with db.begin() as conn:
        now = db.now(conn)
        done = conn.execute(
            schema.leases.update()
            .where(schema.leases.c.name == name, schema.leases.c.holder == holder)
            .values(expires_at=now + ttl)
            .returning(schema.leases.c.name)
        ).first()
    return done is not None


def release(db: StateDB, name: str, holder: str) -> None:
    """Drop ``holder``'s lease ``name``; no-op when it is not theirs."""
    with db.begin() as conn:
        conn.execute(
            schema.leases.delete().where(
                schema.leases.c.name == name, schema.leases.c.holder == holder
            )
        )


def holder_of(db: StateDB, name: str) -> Holder | None:
    """Who holds lease ``name`` now, or None when nobody does (or their lease expired)."""
    with db.begin() as conn:
        now = db.now(conn)
        row = conn.execute(
            sa.select(
                schema.leases.c.holder, schema.leases.c.expires_at, schema.leases.c.info
            ).where(schema.leases.c.name == name, schema.leases.c.expires_at >= now)
        ).first()
    if row is None or is_dead(row.holder):
        return None
    try:
        info = json.loads(row.info or "{}")
    except ValueError:
        info = {}
    return Holder(row.holder, row.expires_at, info if isinstance(info, dict) else {})


class Lease:
    """A held lease renewed every ``beat`` seconds by a daemon thread until :meth:`stop`.

    A renewal that fails (the database unreachable for a moment) is retried at the next
    beat; a renewal that finds the lease taken by another holder sets :attr:`lost` and
    calls ``on_lost`` once: the run goes on, but its holder knows it is no longer alone.
    """

    def __init__(
        self,
        db: StateDB,
        name: str,
        holder: str,
        *,
        ttl: float = TTL,
        beat: float = BEAT,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.name, self.holder, self.ttl, self.beat = db, name, holder, ttl, beat
        self.on_lost = on_lost
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from pipeline.errors import StorageError

        while not self._stop.wait(self.beat):
            try:
                if not renew(self.db, self.name, self.holder, ttl=self.ttl):
                    self.lost = True
                    if self.on_lost is not None:
                        self.on_lost(self.name)
                    return
            except StorageError:
                continue  # the database is away for a moment: the next beat tries again

    def stop(self, *, release_it: bool = True) -> None:
        """Stop renewing and (by default) release the lease. A release that fails (a full
        disk, the database away) is not raised: the lease expires by itself, and the error
        that ended the block, if any, is the one to report."""
        from pipeline.errors import StorageError

        self._stop.set()
        self._thread.join()
        if release_it and not self.lost:
            with contextlib.suppress(StorageError):
                release(self.db, self.name, self.holder)
