"""``python -m pipeline.testing.fakellm``: serve the fake until Ctrl-C (offline runs)."""

from __future__ import annotations

import argparse
import contextlib

from pipeline.testing.fakellm.core import FakeLLM
from pipeline.testing.fakellm.server import FakeServer


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (``--host``, ``--port``, ``--delay`` s, ``--api-key``) and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.testing.fakellm",
        description="A fake OpenAI-compatible server, for tests and for whole offline runs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    args = parser.parse_args(argv)
    server = FakeServer(FakeLLM(delay=args.delay, api_key=args.api_key), args.host, args.port)
    print(
        f"fake LLM on {server.base_url} (log: http://{args.host}:{server.port}/_requests)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops it
        server.serve_forever()


if __name__ == "__main__":
    main()
