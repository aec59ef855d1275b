"""Limits every worker shares: Prefect global concurrency limits and rate limits.

A worker's own settings (``[llm] max_concurrency``) bound one process; these bound the
pool. Each is a Prefect global concurrency limit on the server, named after what it
protects, so every worker of every machine takes its slots from the same counter:

* ``podpost-llm-<host>``: LLM requests in flight to the endpoint at ``<host>`` (each
  ``complete_json`` call, with the client's own retries inside it);
* ``podpost-llm-rate-<host>``: LLM requests started per second (a rate limit: a limit
  with a slot decay);
* ``podpost-media-<host>``: episodes fetching from the media host ``<host>`` at once (a
  fetch step holds one slot while it downloads);
* ``podpost-media-rate-<host>``: fetches started per second on that host.

A limit that is missing is made on first use with the defaults below (:data:`DEFAULTS`);
an operator's own values win: change them with
``prefect gcl update podpost-llm-HOST --limit 8`` (or ``prefect gcl create`` before the
first run), and ``prefect gcl inspect`` shows the slots taken now. A local file has no
media host and takes no slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

# A lease longer than any single request or download: a dead holder's slots come back
# when it ends (Prefect renews it while the holder lives).
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class Limit:
    """A global limit's defaults: ``limit`` slots, ``decay`` slots freed per second (a
    rate limit) or None (slots are held, then released)."""

    limit: int
    decay: float | None = None


DEFAULTS = {
    "llm": Limit(4),
    "llm-rate": Limit(10, decay=5.0),
    "media": Limit(2),
    "media-rate": Limit(4, decay=2.0),
}


def host_of(url: str) -> str | None:
    """``host[:port]`` of an http(s) URL, lowercased, without credentials; None for
    anything else (a local path: nothing to protect)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower() + (f":{parts.port}" if parts.port else "")


def limit_name(kind: str, host: str) -> str:
    """The global limit of ``kind`` (a key of :data:`DEFAULTS`) for ``host``."""
    return f"podpost-{kind}-{host}"


_made: set[str] = set()  # limits this process saw or made: asked once per process


def ensure_limit(name: str, limit: Limit) -> None:
    """Make the global limit ``name`` with ``limit``'s defaults unless it exists (another
    worker making it at the same moment is fine)."""
    if name in _made:
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):
                decay = {} if limit.decay is None else {"slot_decay_per_second": limit.decay}
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit.limit, **decay)
                )
    _made.add(name)


@contextmanager
def shared_slot(kind: str, url: str) -> Iterator[None]:
    """Hold one slot of the ``kind`` limit of ``url``'s host (``"llm"`` or ``"media"``),
    after one slot of its rate limit; nothing for a URL with no host."""
    host = host_of(url)
    if host is None:
        yield
        return
    from prefect.concurrency.sync import concurrency, rate_limit

    held, rate = limit_name(kind, host), limit_name(f"{kind}-rate", host)
    ensure_limit(held, DEFAULTS[kind])
    ensure_limit(rate, DEFAULTS[f"{kind}-rate"])
    rate_limit(rate, strict=True)
    with concurrency(held, lease_duration=LEASE_SECONDS, strict=True):
        yield


class GatedClient:
    """An LLM client whose every request holds a slot of the pool's ``llm`` limits; every
    other attribute is the wrapped client's."""

    def __init__(self, client: object, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    def complete_json(self, *args: object, **kwargs: object) -> object:
        """The wrapped client's ``complete_json``, inside :func:`shared_slot`."""
        with shared_slot("llm", self._base_url):
            return self._client.complete_json(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)
