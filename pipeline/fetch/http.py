"""HTTP for the fetch stage: the one guarded client every byte podpost fetches goes through.

    http_get(url, config, *, limit=None, policy=None, user_url=False, cap=None) -> HttpResponse
    open_url(url, config, *, policy=None, ...) -> context manager of a Fetched (streaming)
    with_retries(config, fn, *args, **kwargs) -> fn's result
    http_error(url, status, reason) -> PodpostError       # an HTTP status as our error
    normalise_url(url) -> str                             # percent-encoded, IDNA host
    disposition_filename(value) -> str | None             # RFC 6266, ``filename*`` first

Built on httpx (tests pass an ``httpx.MockTransport`` as ``transport``). What it guards:

* **Every hop.** Redirects are followed here, not by httpx: each ``Location`` is made
  absolute, normalised and checked by the :class:`~pipeline.fetch.urls.UrlPolicy` before
  any connection to it, up to ``[fetch] max_redirects`` hops. Only the URL the user typed
  (``user_url``) skips the policy, and only on the first hop.
* **One address.** The policy resolves each host once; the connection goes to that
  address (a network backend that connects only to pinned addresses; TLS still verifies and
  sends SNI for the name), so a second DNS answer cannot swap it. A name that does not
  resolve fails.
* **Passwords.** A URL's ``user:password@`` is never sent in the URL: the password comes from
  :data:`pipeline.fetch.urls.CREDENTIALS` and goes in an ``Authorization`` header for the
  origin it was given for, and never again once a redirect has left that origin.
* **Sizes.** ``cap`` names a setting as ``section.name`` (``fetch.max_feed_bytes``,
  ``asr.max_caption_bytes`` for transcripts and caption files) enforced on the decoded bytes
  while they stream: going over it is one line (:class:`~pipeline.errors.FetchTooLargeError`).
* **Encodings.** ``Content-Encoding`` (gzip, deflate; br and zstd when their packages are
  installed) is decoded even when the request did not ask for it.

Timeouts: ``[fetch] timeout`` seconds to connect and for each read. Retries: the fetch
stage's one retry layer. A retryable error (``NetworkError``: refused or reset connections,
timeouts, 429 and 5xx) is tried ``[fetch] retries`` more times, waiting ``retry_wait``
seconds doubling each time; anything else fails at once. So a silent host fails after at
most ``(retries + 1) * timeout + retry_wait * (2**retries - 1)`` seconds
(:func:`worst_case_seconds`); with the defaults 3 * 20 + 3 = 63 s. Every message names the
redacted URL.
"""

from __future__ import annotations

import base64
import contextlib
import email.message
import email.utils
import functools
import ssl
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, TypeVar

import httpcore
import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from pipeline.config import Config
from pipeline.errors import (
    FetchTooLargeError,
    NetworkError,
    PodpostError,
    SourceError,
    UsageError,
)
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy, origin, redact, strip_userinfo

T = TypeVar("T")

USER_AGENT = "podpost/0.1 (+https://github.com/podpost)"
_REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
RAW_CHUNK = 4 * 1024  # encoded bytes decoded at a time


def with_retries(config: Config, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, retrying retryable errors with exponential backoff; others pass through."""
    retrying = Retrying(
        retry=retry_if_exception(lambda e: getattr(e, "retryable", False)),
        stop=stop_after_attempt(config.fetch.retries + 1),
        wait=wait_exponential(multiplier=config.fetch.retry_wait, max=60),
        reraise=True,
    )
    return retrying(fn, *args, **kwargs)


def worst_case_seconds(config: Config) -> float:
    """Seconds one retried request may take against a host that never answers."""
    fetch = config.fetch
    waits = sum(min(fetch.retry_wait * 2**n, 60) for n in range(fetch.retries))
    return (fetch.retries + 1) * fetch.timeout + waits


def http_error(url: str, status: int, reason: str = "") -> PodpostError:
    """An HTTP error status as a one-line error: 404/410/401/403 are permanent
    (``SourceError``), 429 and 5xx transient (``NetworkError``)."""
    url = redact(url)
    if status in (404, 410):
        what = "not found" if status == 404 else "gone (removed)"
        return SourceError(f"{url} is {what} (HTTP {status})", hint="check the URL")
    if status in (401, 403):
        return SourceError(
            f"{url} is private or needs sign-in (HTTP {status})",
            hint="use a public URL, put user:password@ in it, or download the file yourself "
            "and pass its path",
        )
    if status == 429 or status >= 500:
        return NetworkError(
            f"{url} answered HTTP {status} {reason}".strip(), hint="try again later"
        )
    return SourceError(f"{url} answered HTTP {status} {reason}".strip(), hint="check the URL")


def normalise_url(url: str) -> str:
    """``url`` as sent on the wire: raw spaces and non-ASCII characters in the path and query
    percent-encoded, the host in IDNA; ``%XX`` already there is kept; other schemes are left
    as written (they are refused). Errors: ``SourceError`` for a URL that cannot be made valid."""
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        return url  # not fetched at all: the URL policy refuses it as written
    try:
        return str(httpx.URL(url))
    except (httpx.InvalidURL, ValueError) as e:
        raise SourceError(f"{redact(url)} is not a valid URL ({e})", hint="check it") from e


def disposition_filename(value: str | None) -> str | None:
    """The file name a ``Content-Disposition`` header gives, read per RFC 6266 by the standard
    library's MIME parser: ``filename*`` (RFC 5987/2231, with its charset) wins over
    ``filename``; any folder part is dropped. None when it names none."""
    if not value:
        return None
    message = email.message.Message()
    message["Content-Disposition"] = value
    params = message.get_params(header="content-disposition", failobj=[])
    names = [v for k, v in params[1:] if k.lower() == "filename"]
    extended = [v for v in names if isinstance(v, tuple)]
    chosen: Any = next(iter(extended or names), None)
    if chosen is None:
        return None
    try:
        name = email.utils.collapse_rfc2231_value(chosen, errors="replace")
    except LookupError:  # an unknown charset: its bytes as Latin-1 would be mojibake
        name = urllib.parse.unquote(str(chosen[2] if isinstance(chosen, tuple) else chosen))
    name = PurePosixPath(name.replace("\\", "/")).name.strip()
    return name or None


@dataclass
class HttpResponse:
    """What an HTTP GET gave: the final URL, its headers as podpost needs them, and the first
    bytes of the body (up to the caller's ``limit``), decoded by its Content-Encoding."""

    url: str  # after redirects, redacted (no password)
    content_type: str  # lower case, without parameters
    length: int | None  # Content-Length (of the bytes on the wire)
    filename: str | None  # from Content-Disposition
    head: bytes  # the first ``limit`` bytes, or all of them
    charset: str | None = None  # Content-Type's charset parameter


def auth_header(url: str) -> str | None:
    """``Basic ...`` for ``url`` when a password is known for its origin, else None."""
    auth = CREDENTIALS.auth_for(url)
    if auth is None:
        return None
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
    return f"Basic {token}"


# --- the connection: only to the address that was checked -------------------------------------


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore's network backend that connects a host name only to the address the URL
    policy checked for it (``pins``); any other host is refused without a connection."""

    def __init__(self) -> None:
        self.pins: dict[str, str] = {}
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Connect to the pinned address of ``host``."""
        address = self.pins.get(host.strip("[]").lower())
        if address is None:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        """Never: podpost fetches over TCP only."""
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        """As httpcore's own backend."""
        self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process (loading the CA bundle costs a fraction of a
    second; a context is safe to share between connections and threads)."""
    return httpx.create_ssl_context(trust_env=False)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a :class:`PinnedBackend` (TLS verifies the host name)."""

    def __init__(self, backend: PinnedBackend) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # httpx has no argument for the network backend: its pool is rebuilt with one
        self._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=backend)


# --- the client ----------------------------------------------------------------------------


@dataclass
class Fetched:
    """A response being streamed: the final URL (redacted), status, headers, and its body
    (decoded by Content-Encoding) in chunks."""

    url: str
    status: int
    headers: httpx.Headers
    response: httpx.Response = field(repr=False)

    @property
    def content_type(self) -> str:
        """Content-Type, lower case, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def length(self) -> int | None:
        """Content-Length, when given."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    def chunks(self) -> Iterator[bytes]:
        """The body, decoded, in chunks; network failures become ``NetworkError``."""
        try:
            yield from _decoded(self.response)
        except httpx.DecodingError as e:
            encoding = self.headers.get("content-encoding", "")
            raise SourceError(
                f"{self.url} sent bytes that are not valid {encoding or 'encoded'} data ({e})",
                hint="try again, or tell the publisher",
            ) from e
        except httpx.TimeoutException as e:
            raise NetworkError(f"reading {self.url} timed out", hint="try again") from e
        except httpx.TransportError as e:
            raise NetworkError(f"reading {self.url} failed: {e}", hint="try again") from e

    def read(self, limit: int | None = None, cap: tuple[str, int] | None = None) -> bytes:
        """The body (its first ``limit`` bytes), refusing it over ``cap`` (setting, bytes)."""
        data = bytearray()
        for chunk in self.chunks():
            data += chunk
            if limit is not None and len(data) >= limit:
                return bytes(data[:limit])
            if cap is not None and len(data) > cap[1]:
                raise FetchTooLargeError(self.url, setting=cap[0], limit=cap[1])
        return bytes(data)


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body decoded by its Content-Encoding, from raw pieces of ``RAW_CHUNK`` bytes: one
    piece of a compression bomb inflates to at most ~1000 times its size (4 MB), so a cap
    holds memory too. (httpx's ``iter_bytes`` decodes whole 64 KiB network reads: 64 MB
    at a time.) The decoder is httpx's own, gzip, deflate, br and zstd as installed."""
    decoder_of = getattr(response, "_get_content_decoder", None)
    if decoder_of is None or hasattr(response, "_content"):  # read already, or another httpx
        yield from response.iter_bytes(CHUNK)
        return
    decoder = decoder_of()
    encoded = response.headers.get("content-encoding", "identity").strip().lower() != "identity"
    for raw in response.iter_raw(RAW_CHUNK if encoded else CHUNK):
        if data := decoder.decode(raw):
            yield data
    if tail := decoder.flush():
        yield tail


@contextlib.contextmanager
def open_url(
    url: str,
    config: Config,
    *,
    policy: UrlPolicy | None = None,
    user_url: bool = False,
    what: str = "URL",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    accept_status: Callable[[int], bool] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[Fetched]:
    """One request with every redirect hop checked (see the module docstring), streaming.

    ``policy`` defaults to the one for ``url`` as the user's source. An error status
    raises (``http_error``) unless ``accept_status(status)`` says to hand it back.
    Errors: ``SourceError`` (refused, 4xx, too many redirects), ``NetworkError``."""
    url = normalise_url(url)
    policy = policy or UrlPolicy.for_source(url, config)
    backend = PinnedBackend()
    timeout = httpx.Timeout(config.fetch.timeout)
    client = httpx.Client(
        transport=transport or PinnedTransport(backend),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
    given = origin(url)  # a password goes to this origin only, until a hop leaves it
    left = False
    body = content
    first = url
    with client:
        for hop in range(config.fetch.max_redirects + 1):
            wire = strip_userinfo(url)  # the password goes in a header, never in the URL
            shown = redact(wire)
            checked = not (user_url and hop == 0)
            address = policy.address(url, what if hop == 0 else "redirect", checked=checked)
            parts = urllib.parse.urlsplit(url)
            backend.pins[(parts.hostname or "").lower()] = address
            sent = {"User-Agent": USER_AGENT, **(headers or {})}
            sent = {k: v for k, v in sent.items() if k.lower() not in ("authorization", "host")}
            if not left and origin(url) == given and (auth := auth_header(url)) is not None:
                sent["Authorization"] = auth
            request = client.build_request(method, wire, headers=sent, content=body)
            response = _send(client, request, shown)
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                response.close()
                target = strip_userinfo(normalise_url(urllib.parse.urljoin(url, location)))
                if origin(target) != given:
                    left = True
                if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
                    method, body = "GET", None
                url = target
                continue
            try:
                status = response.status_code
                if status >= 400 and not (accept_status and accept_status(status)):
                    raise http_error(wire, status, response.reason_phrase)
                yield Fetched(shown, status, response.headers, response)
            finally:
                response.close()
            return
    raise SourceError(
        f"{redact(first)} redirected more than {config.fetch.max_redirects} times",
        hint="check the URL, or raise [fetch] max_redirects",
    )


def _send(client: httpx.Client, request: httpx.Request, shown: str) -> httpx.Response:
    try:
        return client.send(request, stream=True)
    except httpx.TimeoutException as e:
        raise NetworkError(
            f"cannot reach {shown}: timed out", hint="check the connection and try again"
        ) from e
    except httpx.TransportError as e:
        raise NetworkError(
            f"cannot reach {shown}: {e}", hint="check the connection and try again"
        ) from e
    except httpx.InvalidURL as e:
        raise UsageError(f"{shown} is not a valid URL ({e})", hint="check it") from e


def _charset(content_type: str) -> str | None:
    message = email.message.Message()
    message["Content-Type"] = content_type or "application/octet-stream"
    value = message.get_param("charset")
    return str(value) if isinstance(value, str) and value else None


def _get_once(
    url: str,
    config: Config,
    limit: int | None,
    policy: UrlPolicy | None,
    user_url: bool,
    cap: str | None,
    what: str,
    transport: httpx.BaseTransport | None,
) -> HttpResponse:
    with open_url(
        url, config, policy=policy, user_url=user_url, what=what, transport=transport
    ) as fetched:
        ceiling = None
        if cap is not None:
            section, _, name = cap.rpartition(".")
            ceiling = (cap, int(getattr(getattr(config, section or "fetch"), name)))
            encoded = fetched.headers.get("content-encoding", "identity") != "identity"
            if limit is None and not encoded and (fetched.length or 0) > ceiling[1]:
                raise FetchTooLargeError(fetched.url, setting=cap, limit=ceiling[1])
        head = fetched.read(limit, ceiling)
        content_type = fetched.headers.get("content-type", "")
        return HttpResponse(
            url=fetched.url,
            content_type=fetched.content_type,
            length=fetched.length,
            filename=disposition_filename(fetched.headers.get("content-disposition")),
            head=head,
            charset=_charset(content_type),
        )


def http_get(
    url: str,
    config: Config,
    *,
    limit: int | None = None,
    policy: UrlPolicy | None = None,
    user_url: bool = False,
    cap: str | None = None,
    what: str = "URL",
    transport: httpx.BaseTransport | None = None,
) -> HttpResponse:
    """GET ``url`` (only its first ``limit`` bytes when given), retrying transient failures.

    ``policy`` is checked on ``url`` (unless ``user_url``: the user typed it) and on every
    redirect, before any connection to it; ``cap`` names the size setting (``section.name``)
    the whole body must stay under. Errors: ``SourceError`` (4xx, refused URL, over the cap),
    ``NetworkError`` (unreachable, timeout, 429/5xx after the retries)."""
    return with_retries(
        config, _get_once, url, config, limit, policy, user_url, cap, what, transport
    )
