"""HTTP for the fetch stage: GET with timeouts, basic auth, checked redirects and retries.

    http_get(url, config, *, limit=None, policy=None) -> HttpResponse
    with_retries(config, fn, *args, **kwargs) -> fn's result
    http_error(url, status, reason) -> PodpostError       # an HTTP status as our error

Timeouts: ``[fetch] timeout`` seconds for the connection and for each read (a host that
accepts and never answers costs one timeout per attempt). Retries: the fetch stage's one
retry layer. A retryable error (``NetworkError``: refused or reset connections, timeouts,
429 and 5xx) is tried ``[fetch] retries`` more times, waiting ``retry_wait`` seconds
doubling each time; anything else fails at once. So a silent host fails after at most
``(retries + 1) * timeout + retry_wait * (2**retries - 1)`` seconds
(:func:`worst_case_seconds`); with the defaults 3 * 20 + 3 = 63 s.

Passwords: a URL's ``user:password@`` is never sent as part of the URL; the password
comes from :data:`pipeline.fetch.urls.CREDENTIALS` and goes in an ``Authorization``
header, which is dropped when a redirect leaves the origin. Every message names the
redacted URL. With a ``policy`` every redirect target must pass ``policy.check``.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from pipeline.config import Config
from pipeline.errors import NetworkError, PodpostError, SourceError
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy, origin, redact, strip_userinfo

T = TypeVar("T")

USER_AGENT = "podpost/0.1 (+https://github.com/podpost)"


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


@dataclass
class HttpResponse:
    """What an HTTP GET gave: the final URL, its headers as podpost needs them, and the first
    bytes of the body (up to the caller's ``limit``)."""

    url: str  # after redirects, redacted (no password)
    content_type: str  # lower case, without parameters
    length: int | None  # Content-Length
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


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Checks every redirect target against the policy and keeps credentials on their origin."""

    def __init__(self, policy: UrlPolicy | None) -> None:
        self.policy = policy

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def,unused-ignore]
        newurl = urllib.parse.urljoin(req.full_url, newurl)
        if self.policy is not None:
            self.policy.check(newurl, "redirect")
        new = super().redirect_request(req, fp, code, msg, headers, strip_userinfo(newurl))
        if new is not None and origin(newurl) != origin(req.full_url):
            new.remove_header("Authorization")
        return new


def _open(url: str, timeout: float, policy: UrlPolicy | None) -> Any:
    headers = {"User-Agent": USER_AGENT}
    if (auth := auth_header(url)) is not None:
        headers["Authorization"] = auth
    request = urllib.request.Request(strip_userinfo(url), headers=headers)
    opener = urllib.request.build_opener(_Redirects(policy))
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise http_error(e.url or url, e.code, str(e.reason)) from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise NetworkError(
            f"cannot reach {redact(url)}: {reason}", hint="check the connection and try again"
        ) from e


def _get_once(
    url: str, timeout: float, limit: int | None, policy: UrlPolicy | None
) -> HttpResponse:
    with _open(url, timeout, policy) as response:
        headers = response.headers
        length = headers.get("Content-Length")
        disposition = headers.get("Content-Disposition") or ""
        match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
        try:
            head = response.read(limit) if limit is not None else response.read()
        except (TimeoutError, ConnectionError, OSError) as e:
            raise NetworkError(f"reading {redact(url)} failed: {e}", hint="try again") from e
        content_type = headers.get("Content-Type") or ""
        charset = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.IGNORECASE)
        return HttpResponse(
            url=redact(response.geturl()),
            content_type=content_type.split(";")[0].strip().lower(),
            length=int(length) if length and length.isdigit() else None,
            filename=urllib.parse.unquote(match.group(1)) if match else None,
            head=head,
            charset=charset.group(1) if charset else None,
        )


def http_get(
    url: str,
    config: Config,
    *,
    limit: int | None = None,
    policy: UrlPolicy | None = None,
    user_url: bool = False,
) -> HttpResponse:
    """GET ``url`` (only its first ``limit`` bytes when given), retrying transient failures.

    ``policy`` is checked on ``url`` (unless ``user_url``: the user typed it) and on every
    redirect, before any connection to it. Errors: ``SourceError`` (4xx, refused URL),
    ``NetworkError`` (unreachable, timeout, 429/5xx after the retries)."""
    if policy is not None and not user_url:
        policy.check(url)
    return with_retries(config, _get_once, url, config.fetch.timeout, limit, policy)
