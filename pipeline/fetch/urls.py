"""URL safety for fetching: which URLs may be fetched, and passwords that are never shown.

Passwords. A URL such as ``https://ann:s3cret@host/feed.xml`` carries a password for HTTP
basic auth. :func:`remember` takes the password out of the URL, keeps it in this process's
:data:`CREDENTIALS` (keyed by origin: scheme, host, port) and returns the URL with the
password replaced by ``***`` (``https://ann:***@host/feed.xml``). Everything podpost stores,
prints, logs or hands to Prefect is that redacted form; the HTTP layer asks
:meth:`Credentials.auth_for` for the password when it opens a URL of that origin. A later
process that never saw the password (``podpost resume`` of an unfinished fetch) cannot
download it and says so in one line (:class:`pipeline.errors.SourceError`).

Hosts. URLs typed by the user are fetched as given. URLs *named by* a feed or a page
(enclosures, transcripts, redirects) pass :meth:`UrlPolicy.check` first:

* only ``http`` and ``https``; ``file:``, ``ftp:``, ``data:`` ... are refused;
* a host that resolves to a link-local or cloud-metadata address (169.254.0.0/16,
  fe80::/10, fd00:ec2::254) is always refused;
* a host that resolves to a loopback or private address is refused unless the user's own
  source is on such a network (``UrlPolicy.for_source``) or ``[fetch] allow_private_hosts``.

The decision uses a resolver (``host -> [ip, ...]``) that tests inject; checking opens no
connection. Every refusal is a ``SourceError`` whose message names the redacted URL. A host
is resolved once per policy (:meth:`UrlPolicy.address`): the address that was checked is
the one :mod:`pipeline.fetch.http` connects to, so a second DNS answer cannot swap it, and
a name that does not resolve fails (``NetworkError``) instead of passing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.config import Config
from pipeline.errors import NetworkError, SourceError

REDACTED = "***"
Resolver = Callable[[str], Sequence[str]]  # host name -> IP address strings
Origin = tuple[str, str, int]  # (scheme, lower-case host, port)

_ALWAYS_REFUSED = [
    ipaddress.ip_network("169.254.0.0/16"),  # link-local; cloud metadata at 169.254.169.254
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]*)@"
)


# --- passwords ----------------------------------------------------------------------------


def origin(url: str) -> Origin:
    """``(scheme, host, port)`` of ``url``: scheme and host lower case, the port defaulted
    (443 for https, else 80). Passwords are kept per origin."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _netloc(parts: urllib.parse.SplitResult, user: str | None, password: str | None) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if user is None:
        return host
    userinfo = user if password is None else f"{user}:{password}"
    return f"{userinfo}@{host}"


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; anything else unchanged."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", url)


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in free text (an error message, a log line)."""
    return redact(text)


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: what is sent on the wire (auth goes in a header)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=_netloc(parts, None, None)))


@dataclass
class Credentials:
    """Passwords by origin, in memory only; one shared instance, :data:`CREDENTIALS`."""

    _by_origin: dict[Origin, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, url: str) -> str:
        """Keep the password of ``url`` (when it has a real one) and return ``redact(url)``."""
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None and parts.password not in (None, REDACTED):
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            with self._lock:
                self._by_origin[origin(url)] = (user, password)
        return redact(url)

    def auth_for(self, url: str) -> tuple[str, str] | None:
        """(user, password) for ``url``'s origin, or None. A URL that names a different
        user than the one remembered gets none."""
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None and parts.password not in (None, REDACTED):
            return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        with self._lock:
            known = self._by_origin.get(origin(url))
        if known is None:
            if parts.password == REDACTED:
                raise SourceError(
                    f"{redact(url)} needs the password that was removed from it",
                    hint="run the command again with the full URL (user:password@host)",
                )
            return None
        if parts.username is not None and urllib.parse.unquote(parts.username) != known[0]:
            return None
        return known

    def forget_all(self) -> None:
        """Drop every remembered password (tests use it to start from none)."""
        with self._lock:
            self._by_origin.clear()


CREDENTIALS = Credentials()


def remember(url: str) -> str:
    """Module-level shortcut for ``CREDENTIALS.remember(url)``; use it at every entry point
    that receives a URL from the user (the CLI before a Prefect flow sees the URL)."""
    return CREDENTIALS.remember(url)


# --- which hosts may be fetched -------------------------------------------------------------


def default_resolver(host: str) -> list[str]:
    """The system resolver: every address ``host`` resolves to (empty if it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(host: str, resolver: Resolver) -> list[IP]:
    try:
        return [ipaddress.ip_address(host.strip("[]").split("%")[0])]
    except ValueError:
        pass
    found = []
    for text in resolver(host):
        try:
            found.append(ipaddress.ip_address(text.split("%")[0]))
        except ValueError:
            continue
    return found


def _always_refused(ip: IP) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return any(ip.version == net.version and ip in net for net in _ALWAYS_REFUSED)


def _internal(ip: IP) -> bool:
    """Loopback, private, or otherwise not reachable from the internet at large."""
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return ip.is_loopback or ip.is_private or ip.is_unspecified or not ip.is_global


@dataclass(frozen=True)
class UrlPolicy:
    """What URLs named by a feed or page may point at. ``allow_private``: loopback and
    private hosts are allowed (the user's own source is on such a network, or the config
    says so). ``resolver`` maps a host name to its addresses (tests inject one)."""

    allow_private: bool = False
    resolver: Resolver = default_resolver
    _resolved: dict[str, list[IP]] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def addresses(self, host: str) -> list[IP]:
        """Every address of ``host`` (IPv4 first), asking the resolver once per policy."""
        with self._lock:
            known = self._resolved.get(host)
        if known is None:
            known = sorted(_addresses(host, self.resolver), key=lambda ip: ip.version)
            with self._lock:
                known = self._resolved.setdefault(host, known)
        return known

    @classmethod
    def for_source(cls, source: str, config: Config, resolver: Resolver | None = None) -> UrlPolicy:
        """The policy for URLs met while fetching the user's ``source`` (a URL or a path)."""
        resolver = resolver or default_resolver
        allow = config.fetch.allow_private_hosts
        if not allow and "://" in source:
            host = urllib.parse.urlsplit(source).hostname or ""
            policy = cls(allow_private=False, resolver=resolver)
            allow = any(_internal(ip) for ip in policy.addresses(host))
            return cls(allow_private=allow, resolver=resolver, _resolved=policy._resolved)
        elif not allow:  # a local file: the user is on their own machine
            allow = True
        return cls(allow_private=allow, resolver=resolver)

    def check(self, url: str, what: str = "URL") -> str:
        """Return ``url`` when it may be fetched; else raise ``SourceError`` naming it.
        ``what`` says where it came from ("enclosure", "transcript URL", "redirect")."""
        self.address(url, what)
        return url

    def address(self, url: str, what: str = "URL", *, checked: bool = True) -> str:
        """The one address to connect to for ``url``, after checking it (``checked=False``:
        a URL the user typed, only resolved). Errors: ``SourceError`` (refused),
        ``NetworkError`` (the name does not resolve)."""
        shown = redact(url)
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise SourceError(
                f"refused the {what} {shown!r}: only http and https URLs are fetched",
                hint="ask the publisher to fix the feed, or download the file yourself",
            )
        host = parts.hostname or ""
        if not host:
            raise SourceError(f"refused the {what} {shown!r}: it names no host", hint="check it")
        addresses = self.addresses(host)
        if checked and any(_always_refused(ip) for ip in addresses):
            raise SourceError(
                f"refused the {what} {shown}: {host} is a link-local or cloud-metadata address",
                hint="such addresses are never fetched",
            )
        if checked and not self.allow_private and any(_internal(ip) for ip in addresses):
            raise SourceError(
                f"refused the {what} {shown}: {host} is on a private or loopback network",
                hint="set [fetch] allow_private_hosts = true if you trust this feed",
            )
        if not addresses:
            raise NetworkError(
                f"cannot reach {shown}: {host} does not resolve",
                hint="check the host name and the connection",
            )
        return str(addresses[0])


def resolve(base: str, reference: str | None) -> str | None:
    """``reference`` made absolute against ``base`` (the final URL of the document that
    named it, after redirects and ``xml:base``); None stays None."""
    if reference is None or not reference.strip():
        return None
    return urllib.parse.urljoin(base, reference.strip())
