"""A real PostgreSQL (Debian's ``postgresql`` package) for the tests, on a loopback port.

``postgres_server`` (session) runs ``initdb`` into a temporary folder and ``pg_ctl start``
on a free 127.0.0.1 port with its socket in that folder, and stops and removes it at the
end. ``initdb`` refuses to run as root, so as root the server runs as the ``postgres``
user the package made. ``pg_url`` (per test) is a new, empty database on it as a
``postgresql+psycopg://`` URL. ``scripts/setup.sh --test`` installs the package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "podpost"


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is not installed: run scripts/setup.sh --test")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PgServer:
    """A running server: its port and a URL for a database on it."""

    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        """The ``postgresql+psycopg://`` URL of ``database`` on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (see the module docstring)."""
    bindir = _bindir()
    folder = Path(tempfile.mkdtemp(prefix="podpost-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the package's postgres user runs it
        shutil.chown(folder, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"
    port = _free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
         "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
         "-w", "-t", "60", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PgServer(port, folder)
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PgServer) -> Iterator[str]:
    """A new, empty database on the session's server, as a SQLAlchemy URL; this process's
    connections to it are closed at the end (the server allows 100 in all)."""
    import psycopg

    from pipeline.db.core import close_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(
        host="127.0.0.1", port=postgres_server.port, user=USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.url(name)
    yield url
    close_url(url)
