"""Which URLs named by a feed may be fetched, passwords that are never shown, and how long a
silent host may hold a fetch. Resolvers are injected; the only sockets are on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.config import Config
from pipeline.errors import NetworkError, SourceError
from pipeline.fetch.core import fetch_episode
from pipeline.fetch.http import worst_case_seconds
from pipeline.fetch.urls import Credentials, UrlPolicy, redact

HOSTS = {
    "feeds.example.com": ["93.184.216.34"],
    "metadata.internal": ["169.254.169.254"],
    "nas.home": ["192.168.1.10"],
    "v6meta.internal": ["fd00:ec2::254"],
    "cdn.example.com": ["93.184.216.35", "2606:2800:220:1::1"],
}


class FakeResolver:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return HOSTS.get(host, [])


def refused(policy: UrlPolicy, url: str) -> str:
    with pytest.raises(SourceError) as info:
        policy.check(url, "enclosure")
    return info.value.one_line()


def test_only_http_and_https() -> None:
    policy = UrlPolicy(allow_private=True, resolver=FakeResolver())
    assert refused(policy, "file:///etc/passwd") == (
        "refused the enclosure 'file:///etc/passwd': only http and https URLs are fetched; "
        "ask the publisher to fix the feed, or download the file yourself"
    )
    for url in ("ftp://cdn.example.com/a.mp3", "data:audio/mpeg;base64,AAAA", "gopher://x/"):
        assert "only http and https URLs are fetched" in refused(policy, url)
    assert policy.check("https://cdn.example.com/a.mp3") == "https://cdn.example.com/a.mp3"


def test_link_local_and_metadata_hosts_are_always_refused() -> None:
    resolver = FakeResolver()
    policy = UrlPolicy(allow_private=True, resolver=resolver)  # even where private is fine
    assert refused(policy, "http://metadata.internal/latest/meta-data/") == (
        "refused the enclosure http://metadata.internal/latest/meta-data/: metadata.internal "
        "is a link-local or cloud-metadata address; such addresses are never fetched"
    )
    assert resolver.asked == ["metadata.internal"]
    for url in ("http://169.254.169.254/x", "http://[fe80::1]/x", "http://v6meta.internal/x",
                "http://[fd00:ec2::254]/x", "http://[::ffff:169.254.169.254]/x"):  # fmt: skip
        assert "link-local or cloud-metadata" in refused(policy, url)


def test_private_hosts_only_from_a_private_source_or_when_allowed() -> None:
    resolver = FakeResolver()
    public = UrlPolicy.for_source("https://feeds.example.com/f.xml", Config(), resolver)
    assert public.allow_private is False
    assert refused(public, "http://nas.home/ep.mp3") == (
        "refused the enclosure http://nas.home/ep.mp3: nas.home is on a private or loopback "
        "network; set [fetch] allow_private_hosts = true if you trust this feed"
    )
    for url in ("http://127.0.0.1:8080/ep.mp3", "http://[::1]/ep.mp3", "http://10.1.2.3/a"):
        assert "private or loopback" in refused(public, url)
    assert public.check("https://cdn.example.com/ep.mp3")

    allowed = Config(fetch={"allow_private_hosts": True})
    trusting = UrlPolicy.for_source("https://feeds.example.com/f.xml", allowed, resolver)
    assert trusting.check("http://nas.home/ep.mp3") == "http://nas.home/ep.mp3"
    own = UrlPolicy.for_source("http://127.0.0.1:9/feed.xml", Config(), resolver)
    assert own.check("http://127.0.0.1:9/ep.mp3") and own.check("http://nas.home/a.mp3")
    assert "link-local" in refused(own, "http://metadata.internal/")
    # allowed by config: no need to look up the source; an IP literal is never looked up
    assert resolver.asked.count("feeds.example.com") == 1


def test_passwords_are_redacted_and_kept_in_memory_only() -> None:
    url = "https://ann:s3cret%2Fpw@feeds.example.com:8443/private/feed.xml?x=1"
    shown = "https://ann:***@feeds.example.com:8443/private/feed.xml?x=1"
    assert redact(url) == shown
    assert (
        redact("see http://u:p@a/ and https://v:q@b/c")
        == "see http://u:***@a/ and https://v:***@b/c"
    )
    credentials = Credentials()
    assert credentials.auth_for("https://feeds.example.com:8443/x") is None
    assert credentials.remember(url) == shown
    assert credentials.remember(shown) == shown  # the redacted form does not overwrite it
    for same_origin in (shown, "https://feeds.example.com:8443/media/ep.mp3"):
        assert credentials.auth_for(same_origin) == ("ann", "s3cret/pw")
    assert credentials.auth_for("https://feeds.example.com/other-port") is None
    assert credentials.auth_for("https://bob@feeds.example.com:8443/") is None  # another user
    with pytest.raises(SourceError) as info:  # a later process: the password is gone
        Credentials().auth_for(shown)
    assert info.value.one_line() == (
        f"{shown} needs the password that was removed from it; run the command again with "
        "the full URL (user:password@host)"
    )
    error = NetworkError(f"cannot reach {url}", hint="try again")
    assert "s3cret" not in error.one_line() and "s3cret" not in error.message


@pytest.fixture
def silent_host() -> Iterator[tuple[str, list[socket.socket]]]:
    """A host that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/episode.mp3", accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_silent_host_fails_after_one_retry_budget(silent_host, tmp_path) -> None:
    url, accepted = silent_host
    config = Config(data_dir=tmp_path, fetch={"timeout": 0.5, "retry_wait": 0.05})
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        fetch_episode(url, config)
    elapsed = time.monotonic() - started
    assert len(accepted) == config.fetch.retries + 1 == 3  # one retry layer: 1 + 2 retries
    assert (
        info.value.one_line()
        == f"cannot reach {url}: timed out; check the connection and try again"
    )
    assert elapsed < worst_case_seconds(config) + 5.0  # 3 * 0.5 + 0.05 + 0.1, plus slack
    # with the defaults the same host costs 3 * 20 s + 1 s + 2 s: under the 2 minutes
    assert worst_case_seconds(Config()) == 63.0
