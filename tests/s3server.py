"""An S3 API on loopback for the tests: moto's server mode, a real HTTP server.

:func:`s3_server` (session scope, in ``conftest``) starts one ``ThreadedMotoServer`` on a
free 127.0.0.1 port; :class:`S3Server` makes a fresh bucket per test
(:meth:`S3Server.bucket`) and gives the settings a podpost process needs to use it
(:meth:`S3Server.env`): ``PODPOST_STORAGE__URL``, ``PODPOST_STORAGE__ENDPOINT_URL`` and
dummy AWS credentials. podpost talks to it through fsspec and s3fs like to any S3.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "podpost-test",
    "AWS_SECRET_ACCESS_KEY": "podpost-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running moto S3 server at ``endpoint`` (``http://127.0.0.1:PORT``)."""

    endpoint: str
    server: Any = field(repr=False)
    _count: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for the server (for a test's own checks)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def bucket(self) -> str:
        """A new empty bucket's name."""
        name = f"podpost-{next(self._count)}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, url: str) -> dict[str, str]:
        """The environment that points podpost's storage at ``url`` on this server."""
        return {
            **CREDENTIALS,
            "PODPOST_STORAGE__URL": url,
            "PODPOST_STORAGE__ENDPOINT_URL": self.endpoint,
        }

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def start_s3_server() -> S3Server:
    """Start moto's threaded server on a free loopback port."""
    pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(f"http://{host}:{port}", server)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 API server for the whole session; each test makes its own bucket."""
    server = start_s3_server()
    yield server
    server.server.stop()
