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


def test_broken_yaml_is_bad_input_for_check_too(tmp_path: Path):
    good = GOLDEN / "interview-sections.md"
    lines = good.read_text(encoding="utf-8").split("\n")
    assert lines[11].startswith("title: ")  # file line 12, counting the opening ---
    lines[11] = "title: [编译器, GPU"
    broken = tmp_path / "broken.md"
    broken.write_text("\n".join(lines), encoding="utf-8")
    flawed = tmp_path / "flawed.md"
    flawed.write_text(good.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    error = (
        f"error: {broken}:12: front matter is not valid YAML: in the [ list that starts here: "
        "expected ',' or ']', but got ':'; fix the front matter's YAML there (an unclosed "
        "quote or bracket, say)\n"
    )
    # The same line and exit code as `post parse`; the other files are still checked.
    parsed = podpost("post", "parse", str(broken))
    assert (parsed.returncode, parsed.stdout, parsed.stderr.decode()) == (2, b"", error)
    result = podpost("post", "check", str(broken), str(good), str(flawed))
    assert (result.returncode, result.stderr.decode()) == (2, error)
    assert result.stdout.decode() == (
        f"{flawed}:{len(lines)}: file ends with a newline; a post ends right after </details>\n"
    )


def test_check_goes_on_after_a_missing_file(tmp_path: Path):
    flawed = tmp_path / "flawed.md"
    flawed.write_text((GOLDEN / "interview-sections.md").read_text("utf-8") + "\n", "utf-8")
    result = podpost("post", "check", str(tmp_path / "nope.md"), str(flawed))
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"error: {tmp_path / 'nope.md'}: no such file; check the path\n"
    )
    assert result.stdout.decode().startswith(f"{flawed}:")


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
