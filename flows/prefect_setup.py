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

With no ``PREFECT_API_URL``, Prefect runs a temporary server on 127.0.0.1 with SQLite in
``PREFECT_HOME`` (``~/.prefect``): nothing to start on a single machine.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
}


def quiet_defaults(environ: MutableMapping[str, str]) -> None:
    for name, value in QUIET.items():
        environ.setdefault(name, value)


def check_api() -> None:
    """Fail with one line when a configured Prefect API does not answer.

    Without this, Prefect retries for a long while and then prints a long traceback.
    """
    import httpx
    from prefect.settings import get_current_settings

    from pipeline.errors import ConfigError

    url = get_current_settings().api.url
    if not url:
        return  # the embedded server: nothing to check
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5.0)
    except httpx.HTTPError as e:
        raise ConfigError(
            f"the Prefect API at {url} does not answer ({type(e).__name__})",
            hint="start it with `prefect server start`, fix PREFECT_API_URL, "
            "or unset PREFECT_API_URL to use podpost's embedded server",
        ) from e


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
