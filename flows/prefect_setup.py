"""Prefect settings podpost applies at its entry points, before Prefect is imported.

Prefect reads its settings from the environment when it is first imported, so the CLI (and
a deployment's flow process) calls :func:`quiet_defaults` first. Each value is only a
default: whatever the user set in the environment or a Prefect profile wins.

* ``PREFECT_SERVER_ANALYTICS_ENABLED=false``: the embedded server's telemetry heartbeat
  fails offline with a traceback and a "database is locked" error on SQLite; it sends
  nothing podpost needs.
* ``PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS=false``: no per-run metrics thread.
* ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=CRITICAL`` on a terminal run: Prefect's console
  lines ("Starting temporary server", task state changes, tracebacks) would drown podpost's
  own progress and its one-line errors. The logs still go to the Prefect API, so the UI
  shows them; set the variable to ``INFO`` to see them on the console too.
* ``PREFECT_SERVER_LOGGING_LEVEL=WARNING``: the embedded server's access log stays quiet.
* ``PREFECT_CLIENT_RETRY_EXTRA_CODES=500,504``: Prefect's own API client is the one layer
  that retries transient Prefect API failures (``PREFECT_CLIENT_MAX_RETRIES`` times,
  default 5, backing off 2, 4, 8, 16, 32 s with jitter, or as ``Retry-After`` says). It
  retries connection resets, timeouts, 408, 429, 502 and 503 by itself; podpost adds
  the other transient 5xx answers a proxy or a restarting server gives. Nothing in
  podpost retries a Prefect call on top (the tasks have ``retries=0``), and a call that
  still fails is one line naming the Prefect API (exit 4).

With no ``PREFECT_API_URL``, Prefect runs a temporary server on 127.0.0.1 with SQLite in
``PREFECT_HOME`` (``~/.prefect``): nothing to start on a single machine. :func:`prepare`
starts it before the flow does, so that a slow start gets time and a failed one is one
line:

* ``PREFECT_HOME`` and its parents are created first: Prefect creates only the last
  folder, and where the parent is missing (a service account whose home was never made)
  its server exits at once and Prefect restarts it on another port until the wait ends.
* The wait is :data:`EPHEMERAL_STARTUP_SECONDS` unless the user set
  ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (environment or Prefect profile).
  Prefect's own default, 20 s, is shorter than a first start on a busy small machine,
  which must create and migrate its SQLite database first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import ConfigError, NetworkError

# A first start (empty PREFECT_HOME: database creation and migrations) measured on a
# 2-core machine: 14 s idle, 28-38 s with both cores busy (load 6 to 13). Prefect counts only
# its 0.1 s sleeps against this, so the wall-clock wait is longer still. 90 s is over
# twice the slowest start measured; a server that has not answered by then is not
# coming, and the message says what to do instead.
EPHEMERAL_STARTUP_SECONDS = 90
STARTUP_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
SERVER_HINT = (
    "start a server with `prefect server start` (in another terminal) and set "
    "PREFECT_API_URL=http://127.0.0.1:4200/api"
)

QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_CLIENT_RETRY_EXTRA_CODES": "500,504",
}


def quiet_defaults(environ: MutableMapping[str, str]) -> None:
    """Set each :data:`QUIET` variable in ``environ`` that is not set already (a user's own
    value wins); call it before Prefect is imported, which reads them once."""
    for name, value in QUIET.items():
        environ.setdefault(name, value)


def prefect_home(environ: Mapping[str, str]) -> Path:
    """Create ``PREFECT_HOME`` (default ``~/.prefect``) and its parents; its path.

    Runs before Prefect is imported: Prefect tries to create the folder on import."""
    home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create PREFECT_HOME {home} ({e.strerror})",
            hint="set PREFECT_HOME to a folder you can write, or point PREFECT_API_URL at "
            "a running Prefect server",
        ) from e
    return home


def prepare(environ: MutableMapping[str, str]) -> None:
    """Everything a command does before its first flow: quiet defaults, ``PREFECT_HOME``,
    then a Prefect API that answers (the configured one, else the temporary server).

    Raises :class:`NetworkError` (one line) when no API answers, :class:`ConfigError`
    when the home folder cannot be made or no API is configured and the temporary
    server is turned off."""
    quiet_defaults(environ)
    prefect_home(environ)
    check_api()


def check_api() -> None:
    """Fail with one line when a configured Prefect API does not answer, or start the
    temporary server now (:func:`start_temporary_server`) when none is configured.

    Without this, Prefect retries for a long while and then prints a long traceback.
    """
    import httpx
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        start_temporary_server()
        return
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5.0)
    except httpx.HTTPError as e:
        raise NetworkError(
            f"the Prefect API at {url} does not answer ({type(e).__name__})",
            hint="start it with `prefect server start`, fix PREFECT_API_URL, "
            "or unset PREFECT_API_URL to use podpost's embedded server",
        ) from e


def startup_seconds() -> int:
    """How long to wait for the temporary server: the user's own
    ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` when set, else
    :data:`EPHEMERAL_STARTUP_SECONDS`."""
    from prefect.settings import get_current_settings

    ephemeral = get_current_settings().server.ephemeral
    if "startup_timeout_seconds" in ephemeral.model_fields_set:
        return ephemeral.startup_timeout_seconds
    return max(EPHEMERAL_STARTUP_SECONDS, ephemeral.startup_timeout_seconds)


def start_temporary_server() -> str:
    """Start Prefect's temporary server (once per process) and return its API URL.

    Prefect would start it on the first API call with its own short wait; starting it
    here gives it :func:`startup_seconds` and turns a failure into one line."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if not settings.server.ephemeral.enabled:
        raise ConfigError(
            "no Prefect API: PREFECT_API_URL is not set and the temporary server is off",
            hint=f"{SERVER_HINT}, or set PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true",
        )
    seconds = startup_seconds()
    server = SubprocessASGIServer()
    try:
        server.start(timeout=seconds)
    except Exception as e:  # Prefect raises RuntimeError; a port or OS error is no better
        exited = re.search(r"exited with code (-?\d+)", str(e))
        why = f"its process exited with code {exited.group(1)}" if exited else "no answer"
        raise NetworkError(
            f"Prefect's temporary server did not start within {seconds} s ({why}; "
            f"PREFECT_HOME={settings.home})",
            hint=f"{SERVER_HINT}, or allow a slow first start more time with {STARTUP_VAR}",
        ) from e
    return server.api_url


@contextmanager
def command_line_run() -> Iterator[None]:
    """Settings for a flow started by a podpost command (not by a worker).

    No flow-run heartbeats: the heartbeat thread sleeps in one-second steps and each flow
    (and each child flow of an ingestion) waits for it to wake up when it ends, about a
    second per episode for nothing. Heartbeats let a server mark a vanished run as crashed;
    a command-line run reports its own end, and ``podpost status`` tells a killed run from
    the episode lock. Runs started by workers from deployments keep their heartbeats.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
