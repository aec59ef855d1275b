"""Bad input to the post commands: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.post_helpers import GOLDEN, podpost


def _one_line_error(result) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("command", [["post", "parse"], ["post", "check"], ["post", "render"]])
def test_missing_file(command: list[str], tmp_path: Path):
    result = podpost(*command, str(tmp_path / "nope.md"))
    assert result.returncode == 2
    assert "nope.md: no such file" in _one_line_error(result)


def test_not_utf8(tmp_path: Path):
    bad = tmp_path / "latin1.md"
    bad.write_bytes("---\ntitle: café\n---\n".encode("latin-1"))
    result = podpost("post", "parse", str(bad))
    assert result.returncode == 2
    assert "not UTF-8" in _one_line_error(result)


def test_broken_yaml(tmp_path: Path):
    bad = tmp_path / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\n**A**: x", encoding="utf-8")
    result = podpost("post", "parse", str(bad))
    assert result.returncode == 2
    assert "front matter is not valid YAML" in _one_line_error(result)


def test_invalid_json():
    result = podpost("post", "render", "-", stdin=b'{"front": ')
    assert result.returncode == 2
    assert "invalid JSON" in _one_line_error(result)


def test_json_that_is_not_a_post():
    result = podpost("post", "render", "-", stdin=b'{"front": {}, "sections": []}')
    assert result.returncode == 2
    assert "not a post: front.author" in _one_line_error(result)


def test_check_exit_codes(tmp_path: Path):
    good = sorted(GOLDEN.glob("*.md"))
    assert podpost("post", "check", *map(str, good)).returncode == 0
    bad = tmp_path / "bad.md"
    bad.write_text(good[0].read_text(encoding="utf-8") + "\n", encoding="utf-8")
    result = podpost("post", "check", str(good[0]), str(bad))
    assert result.returncode == 1
    assert result.stdout.decode().startswith(f"{bad}:")


def test_help_lists_every_command():
    out = podpost("--help").stdout.decode()
    assert "post" in out
    sub = podpost("post", "--help").stdout.decode()
    for command in ("parse", "render", "check", "schema"):
        assert command in sub
