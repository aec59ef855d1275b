"""Bounded parsing: what a huge caption file and a deeply nested feed cost podpost.

Target (issue 20): a 200 MB caption sidecar and a 50 MB ``<podcast:transcript>`` are each
refused in one line, or processed under 300 MB peak RSS; XML nested past 1,000 levels is one
line, not a RecursionError. The largest file under the cap (``[asr] max_caption_bytes``,
5 MiB) is parsed whole, to show what the cap buys.

Each case runs the real CLI (``podpost transcribe ... --backend captions``) in a child
process and prints its exit code, its stderr, the wall time and the child's peak resident
memory (``wait4``'s ``ru_maxrss``).

    .venv/bin/python bench/hostile_inputs.py
    .venv/bin/python bench/hostile_inputs.py --sidecar-mb 200 --transcript-mb 50 --depth 200000
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CUE = "{n}\n00:{m:02d}:{s:02d},000 --> 00:{m:02d}:{s:02d},900\nSome words said in this cue.\n\n"


def _srt(path: Path, megabytes: float) -> None:
    """An SRT file of at most ``megabytes`` MiB (within 130 kB), written in blocks (never
    whole in memory)."""
    block = "".join(CUE.format(n=i, m=(i // 60) % 60, s=i % 60) for i in range(1, 2001))
    size = len(block.encode())
    with path.open("w", encoding="utf-8") as out:
        for _ in range(int(megabytes * 1024**2) // size):
            out.write(block)


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS in MB) of ``podpost ARGV`` in a child."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(ROOT / ".venv/bin/podpost"), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, err.strip(), time.perf_counter() - start, usage.ru_maxrss / 1024


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _report(name: str, result: tuple[int, str, float, float]) -> None:
    code, err, seconds, peak = result
    print(f"{name}: exit {code}, {seconds:.1f} s, peak RSS {peak:.0f} MB")
    for line in err.splitlines():
        print(f"    {line}")


def main() -> None:
    """Build each input in a temporary folder, run it, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sidecar-mb", type=int, default=200)
    parser.add_argument("--accepted-mb", type=float, default=4.9, help="under the 5 MiB cap")
    parser.add_argument("--transcript-mb", type=int, default=50)
    parser.add_argument("--depth", type=int, default=200_000)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODPOST_", "OPENAI_"))}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        media = root / "show" / "talk.wav"
        media.parent.mkdir()
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=3",
             "-ar", "16000", str(media)],
            check=True,
        )  # fmt: skip
        _srt(media.with_suffix(".srt"), args.sidecar_mb)
        data = ["--data-dir", str(root / "data")]
        accepted = root / "small" / "talk.wav"
        accepted.parent.mkdir()
        accepted.write_bytes(media.read_bytes() + b"\0")  # another file: another episode
        _srt(accepted.with_suffix(".srt"), args.accepted_mb)
        size = accepted.with_suffix(".srt").stat().st_size / 1024**2
        _report(
            f"{size:.2f} MB sidecar (parsed)",
            _run([*data, "transcribe", str(accepted), "--backend", "captions"], env),
        )
        _report(
            f"{args.sidecar_mb} MB sidecar",
            _run([*data, "transcribe", str(media), "--backend", "captions"], env),
        )

        served = root / "served"
        served.mkdir()
        (served / "ep.wav").write_bytes(media.read_bytes())
        _srt(served / "ep.srt", args.transcript_mb)
        handler = functools.partial(_Quiet, directory=str(served))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        item = (
            "<item><title>Big</title><guid>big</guid>"
            f'<enclosure url="{base}/ep.wav" type="audio/wav" length="1"/>'
            f'<podcast:transcript url="{base}/ep.srt" type="application/x-subrip"/></item>'
        )
        deep = "<item><title>Deep</title><guid>deep</guid>" + "<a>" * args.depth
        deep += "</a>" * args.depth + f'<enclosure url="{base}/ep.wav" type="audio/wav"/></item>'
        for name, body in (("feed.xml", item), ("deep.xml", deep)):
            (served / name).write_text(
                '<?xml version="1.0"?><rss version="2.0" '
                'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
                f"<title>Bench</title><language>en</language>{body}</channel></rss>"
            )
        _report(
            f"{args.transcript_mb} MB <podcast:transcript>",
            _run([*data, "transcribe", f"{base}/feed.xml", "--backend", "captions"], env),
        )
        _report(
            f"feed nested {args.depth} deep",
            _run([*data, "transcribe", f"{base}/deep.xml", "--backend", "captions"], env),
        )
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
