"""The CLI's one error boundary: usage errors, unexpected exceptions, missing programs,
stray PODPOST_* variables. Each is one line (or click's short usage message) and an exit
code; a traceback only under --debug or PODPOST_DEBUG=1."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.faults import mount_point
from tests.cli_helpers import cli
from tests.fixtures.flows import base_env, run_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PODPOST_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "Error: Missing argument 'source'."),
        (["fetch", "--bogus"], "Error: No such option: --bogus"),
        (["nosuch"], "Error: No such command 'nosuch'."),
    ],
)
def test_usage_errors_are_clicks_message_and_exit_2(argv, message, capsys):
    code, out, err = cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("Usage: podpost ")
    assert err.rstrip("\n").endswith(message)
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 4


def test_usage_error_from_a_real_command_line(tmp_path: Path):
    done = run_cli(["fetch", "--bogus"], env=base_env(tmp_path))
    assert done.returncode == 2
    assert "No such option: --bogus" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _boom(*_args, **_kwargs):
    raise RuntimeError("the disk said no\nsecond line")


def test_unexpected_error_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.run.status.status", _boom)
    code, out, err = cli(["--data-dir", str(tmp_path), "status"], capsys)
    assert (code, out) == (1, "")
    assert err == (
        "error: unexpected RuntimeError: the disk said no; "
        "rerun with --debug (or PODPOST_DEBUG=1) for the traceback\n"
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(how, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.run.status.status", _boom)
    argv = ["--data-dir", str(tmp_path), "status"]
    if how == "flag":
        argv = ["--debug", *argv]
    else:
        monkeypatch.setenv("PODPOST_DEBUG", "1")
    code, _out, err = cli(argv, capsys)
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("error: unexpected RuntimeError: the disk said no; "
                        "rerun with --debug (or PODPOST_DEBUG=1) for the traceback\n")  # fmt: skip


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    def denied(*_args, **_kwargs):
        raise OSError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr("pipeline.run.status.status", denied)
    code, _out, err = cli(["--data-dir", str(tmp_path), "status"], capsys)
    assert (code, err) == (1, f"error: Permission denied: {tmp_path / 'x'}\n")


def test_a_full_disk_names_the_disk_and_the_file(tmp_path, capsys, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr("pipeline.run.status.status", full)
    code, _out, err = cli(["--data-dir", str(tmp_path), "status"], capsys)
    disk = mount_point(tmp_path)
    assert (code, err) == (
        1,
        f"error: the disk is full (no space left on {disk}) writing {tmp_path / 'x'}; free "
        f"some space on {disk} and rerun: finished steps are kept\n",
    )


def test_missing_ffprobe_says_how_to_install_it(tmp_path: Path):
    media = tmp_path / "talk.mp3"
    media.write_bytes(b"\xff\xfb" + bytes(400))
    bare = tmp_path / "bin"  # a PATH with neither ffprobe nor ffmpeg
    bare.mkdir()
    env = {**base_env(tmp_path), "PATH": str(bare)}
    done = run_cli(["--data-dir", str(tmp_path / "data"), "fetch", str(media)], env=env)
    assert done.returncode == 2
    assert done.stderr == (
        "error: ffprobe is not installed; podpost needs it to read media files; install it "
        "(e.g. `apt-get install ffmpeg`) and make sure it is on PATH\n"
    )


def test_unknown_podpost_variable_is_a_warning_and_the_command_goes_on(tmp_path: Path):
    env = {**base_env(tmp_path), "PODPOST_FOO": "1", "PODPOST_LLM_MODEL": "x"}
    done = run_cli(["--data-dir", str(tmp_path), "status", "--json"], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
    assert done.stderr.splitlines() == [
        "warning: PODPOST_FOO is not a podpost setting and is ignored; did you mean PODPOST_POST?",
        "warning: PODPOST_LLM_MODEL is not a podpost setting and is ignored; "
        "did you mean PODPOST_LLM__MODEL?",
    ]


def _ctrl_c(*_args, **_kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.run.status.status", _ctrl_c)
    code, out, err = cli(["--data-dir", str(tmp_path), "status"], capsys)
    assert (code, out, err) == (130, "", "interrupted (Ctrl-C)\n")
