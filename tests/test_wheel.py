"""The built wheel works from another directory, templates included (not only editable)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.post_helpers import GOLDEN

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_checks_posts_from_another_directory(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("podpost-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # Dependencies come from this test environment (a path in a .pth file is added to
    # sys.path, but *its* .pth files, such as our editable install's, are not run).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    podpost = env_dir / "bin" / "podpost"
    where = subprocess.run(
        [str(python), "-c", "import pipeline; print(pipeline.__file__)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(env_dir)), where  # the wheel, not the checkout

    golden = sorted(GOLDEN.glob("*.md"))
    check = subprocess.run(
        [str(podpost), "post", "check", *map(str, golden)], cwd=elsewhere, capture_output=True
    )
    assert (check.returncode, check.stdout, check.stderr) == (0, b"", b"")

    parsed = subprocess.run(
        [str(podpost), "post", "parse", str(golden[0])],
        cwd=elsewhere,
        capture_output=True,
        check=True,
    )
    rendered = subprocess.run(
        [str(podpost), "post", "render", "-"],
        cwd=elsewhere,
        input=parsed.stdout,
        capture_output=True,
        check=True,
    )
    assert rendered.stdout == golden[0].read_bytes()  # the packaged template is found
