"""Terminal safety: text from outside (titles, names, file names, error text) passes one
sanitizer before it reaches a terminal, and no output encoding error ends a command.

Hostile values hold a CSI that clears the screen, an OSC that retitles the window, a C1
CSI, a right-to-left override and rich markup; no raw control character may reach stdout
or stderr, and ``[bold]`` must print as it is written.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.cli.boundary import report
from pipeline.cli.status_view import print_status
from pipeline.config import Config
from pipeline.db import open_state
from pipeline.errors import SourceError
from pipeline.run.progress import Reporter
from pipeline.run.state import EpisodeRun
from pipeline.run.status import status
from pipeline.terminal import GuardedStream, guarded_streams, printable
from tests.cli_helpers import cli
from tests.fixtures.flows import GAP, LINES, REPO, base_env, captions_vtt, run_cli, write_config

HOSTILE = "[bold]Ep[/bold] 1\x1b[2J\x1b]0;pwned\x07 \x9b31m \u202eevil\r\n"
SHOWN = r"[bold]Ep[/bold] 1\x1b[2J\x1b]0;pwned\x07 \u009b31m \u202eevil\x0d\x0a"
# C0 but tab and newline, DEL, C1, line/paragraph separators, bidi embeddings and isolates
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def assert_clean(*texts: str) -> None:
    for text in texts:
        found = RAW.findall(text)
        assert not found, f"raw control characters {found!r} in {text!r}"


def test_printable_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == SHOWN
    assert printable("line one\nline two\ttab", newlines=True) == "line one\nline two\ttab"
    assert printable("a\nb") == r"a\x0ab"
    assert printable("中文 Zoë — fine") == "中文 Zoë — fine"
    assert printable("\x7f\u2028\u2066") == r"\u007f\u2028\u2066"
    # every escape is a JSON escape too: JSON printed through it parses to the same value
    dumped = json.dumps({"title": "a\u202eb\x85c\x7f"}, ensure_ascii=False)
    assert json.loads(printable(dumped, newlines=True)) == {"title": "a\u202eb\x85c\x7f"}


def test_guarded_stream_escapes_what_is_written_and_never_fails_to_encode() -> None:
    raw = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    guarded = GuardedStream(raw)  # type: ignore[arg-type]
    guarded.write(f"title: {HOSTILE}")
    raw.reconfigure(errors="backslashreplace")
    guarded.write("中\n")
    raw.flush()
    written = raw.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert written == "title: " + SHOWN.replace(r"\x0a", "\n") + "\\u4e2d\n"


def test_the_guard_lets_only_colour_sequences_through() -> None:
    raw = io.StringIO()
    GuardedStream(raw).write("\x1b[1mUsage\x1b[0m \x1b[2J\x1b]0;t\x07\n")  # type: ignore[arg-type]
    assert raw.getvalue() == "\x1b[1mUsage\x1b[0m \\x1b[2J\\x1b]0;t\\x07\n"


def test_streams_come_back_after_a_command(capsys) -> None:
    before = sys.stdout, sys.stderr
    with guarded_streams():
        assert isinstance(sys.stdout, GuardedStream) and isinstance(sys.stderr, GuardedStream)
        print(HOSTILE, end="")
    assert (sys.stdout, sys.stderr) == before
    assert capsys.readouterr().out == printable(HOSTILE, newlines=True)


def test_progress_lines_and_bars_escape_titles_on_a_terminal_and_off_it() -> None:
    for terminal in (False, True):
        stream = io.StringIO()
        report = Reporter(stream=stream, terminal=terminal)
        report.done("fetch", 1.0, HOSTILE)
        report.warn(f"cue skipped in {HOSTILE}")
        with report.bar(f"translate {HOSTILE}", 4) as update:
            update(4)
        out = stream.getvalue()
        assert f"fetch: done in 1.0s ({SHOWN})" in out
        assert f"warning: cue skipped in {SHOWN}" in out
        if not terminal:
            assert f"translate {SHOWN}: 100%" in out


def test_error_lines_escape_what_they_quote() -> None:
    stream = io.StringIO()
    code = report(SourceError(f"feed item {HOSTILE!s} has no enclosure"), debug=False,
                  stderr=stream)  # fmt: skip
    assert code == 3
    # PodpostError collapses whitespace; every other control character is shown escaped
    assert stream.getvalue() == (
        r"error: feed item [bold]Ep[/bold] 1\x1b[2J\x1b]0;pwned\x07 \u009b31m \u202eevil has "
        "no enclosure\n"
    )


def _episode(data: Path, episode_id: str, title: str, error: str) -> None:
    folder = data / "episodes" / episode_id
    folder.mkdir(parents=True)
    run = EpisodeRun(open_state(Config(data_dir=data)), folder, episode_id, f"/srv/{title}.mp3")
    run.state.title = title
    run.begin()
    run.fail("transcribe", error)


def test_status_shows_hostile_titles_sources_and_errors_escaped(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    _episode(data, "local-abc", HOSTILE, f"cannot read {HOSTILE}")
    for width in (300, 60):  # the table, and the blocks of a narrow terminal
        stream = io.StringIO()
        console = Console(file=stream, width=width, force_terminal=True, color_system=None)
        from pipeline.config import load_config

        print_status(status(load_config(None, env={}, overrides={"data_dir": str(data)})), console)
        out = stream.getvalue()
        assert_clean(out)
        assert "[bold]Ep[/bold] 1" in out  # rich markup printed as written
        assert r"\x1b[2J" in out
    code, out, err = cli(["--data-dir", str(data), "status"], capsys)
    assert code == 0
    assert_clean(out, err)
    assert r"cannot read [bold]Ep[/bold] 1\x1b[2J\x1b]0;pwned\x07" in out


def test_ascii_output_encoding_never_crashes_a_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _episode(data, "local-abc", "访谈：向量数据库 — Zoë", "无法读取")
    env = {**base_env(tmp_path / "prefect"), "PYTHONIOENCODING": "ascii", "COLUMNS": "200"}
    for args in (["status"], ["fetch", str(tmp_path / "没有.mp3")]):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "--data-dir", str(data), *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            timeout=120,
        )
        out, err = done.stdout.decode("ascii"), done.stderr.decode("ascii")  # ASCII only
        assert "UnicodeEncodeError" not in err and "Traceback" not in err
        if args == ["status"]:
            assert done.returncode == 0, err
            assert r"\u8bbf\u8c08" in out  # 访谈, escaped rather than a crash
        else:
            assert done.returncode == 2
            assert err.startswith("error: ") and r"\u6ca1\u6709.mp3" in err


GOLDEN = REPO / "tests" / "golden" / "german-source-failed-turn.md"
NAME = "ep\x1b]0;pwned\x07 \x1b[2J"  # a file name that retitles the window, clears it


def test_review_shows_hostile_file_names_titles_and_speakers_escaped(
    tmp_path: Path, capsys
) -> None:
    data = tmp_path / "data"
    drafts = data / "drafts"
    drafts.mkdir(parents=True)
    text = GOLDEN.read_text(encoding="utf-8")
    text = text.replace("title: 工业机器人的下一步", "title: 工业\u202e机器人的下一步")
    text = text.replace("**Lena Vogt**:", "**Lena\u202e Vogt**:")  # reads backwards
    draft = drafts / f"{NAME}.md"
    draft.write_text(text, encoding="utf-8")
    code, out, err = cli(["--data-dir", str(data), "review"], capsys)
    assert code == 0, err
    assert_clean(out, err)
    assert r"ep\x1b]0;pwned\x07 \x1b[2J.md  [drafted]  1 error" in out
    assert "工业\\u202e机器人的下一步" in out
    code, out, err = cli(["--data-dir", str(data), "review", str(draft)], capsys)
    assert code == 0, err
    assert_clean(out, err)
    assert r"Lena\u202e Vogt" in out


def test_fetch_shows_a_hostile_file_name_escaped(tmp_path: Path, capsys) -> None:
    media = tmp_path / f"{NAME}.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(media)], check=True
    )
    code, out, err = cli(["--data-dir", str(tmp_path / "data"), "fetch", str(media)], capsys)
    assert code == 0, err
    assert_clean(out, err)
    assert out.startswith(r"ep\x1b]0;pwned\x07 \x1b[2J: ")
    code, out, err = cli(["--data-dir", str(tmp_path / "data"), "fetch", f"{media}.missing"],
                         capsys)  # fmt: skip
    assert code == 2
    assert_clean(out, err)
    assert r"ep\x1b]0;pwned\x07 \x1b[2J.wav.missing" in err


@pytest.mark.slow
def test_run_progress_and_status_of_a_hostile_file_name_are_escaped(
    tmp_path: Path, audio, fake_llm, prefect_api
) -> None:
    media = tmp_path / f"{NAME}.mp3"
    shutil.copyfile(audio.speech(LINES[:2], fmt="mp3", gap=GAP), media)
    (tmp_path / f"{NAME}.vtt").write_text(captions_vtt(audio, LINES[:2]), encoding="utf-8")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"
    done = run_cli(
        ["--config", str(config), "--data-dir", str(data), "run", str(media)],
        env=prefect_api.client_env(),
    )
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout, done.stderr)
    assert r"fetch: done in " in done.stderr and r"(ep\x1b]0;pwned\x07 \x1b[2J)" in done.stderr
    done = run_cli(["--data-dir", str(data), "status"], env={**prefect_api.client_env(),
                   "COLUMNS": "200"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout, done.stderr)
