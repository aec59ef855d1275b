"""A full disk, for real: the data directory on a 2 MB tmpfs.

The error names the disk (its mount point) and the file, no partial file is left, a
ledger that cannot be written either never masks the error, and a rerun with room
completes. Mounting needs root (CI runs as root); the tests skip, saying why, where the
mount is refused.
"""

from __future__ import annotations

import errno
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import StorageError
from pipeline.fsutil import write_atomic
from pipeline.models import Episode
from pipeline.run.episode import run_episode
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from pipeline.run.steps import Job, step_fetch
from tests.cli_helpers import cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at ``tmp_path/disk`` for the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to its last byte with one file; returns it (delete it to make room)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def leftovers(folder: Path) -> list[str]:
    """Temporary and partial files anywhere under ``folder``."""
    return sorted(
        p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part", "-journal"))
    )


def config_on(disk: Path) -> Config:
    return load_config(None, env={}, overrides={"data_dir": str(disk / "data")})


def test_an_atomic_write_on_a_full_disk_names_the_disk_and_leaves_nothing(small_disk: Path):
    target = small_disk / "posts" / "draft.md"
    write_atomic(target, "old")
    filler = fill(small_disk)
    with pytest.raises(StorageError) as caught:
        write_atomic(target, "x" * 100_000)
    assert caught.value.one_line() == (
        f"the disk is full (no space left on {small_disk}) writing {target}; "
        f"free some space on {small_disk} and rerun: finished steps are kept"
    )
    assert target.read_text() == "old"  # the old file is untouched
    assert leftovers(small_disk) == []
    filler.unlink()
    write_atomic(target, "x" * 100_000)
    assert target.stat().st_size == 100_000


def test_a_full_ledger_is_one_line_naming_the_disk(small_disk: Path) -> None:
    ledger = Ledger(small_disk / "ledger.sqlite3")
    fill(small_disk)
    with pytest.raises(StorageError) as caught:
        ledger.record_fetch_failure("k" * 50_000, "u", None, {}, "e" * 50_000)
    assert caught.value.one_line().startswith(
        f"the disk is full (no space left on {small_disk}) writing {small_disk / 'ledger.sqlite3'};"
    )


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3.2 MB WAV (100 s of a tone, 16 kHz mono): more than the small disk holds."""
    path = tmp_path_factory.mktemp("media") / "long talk.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=100",
         "-ar", "16000", "-ac", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_fetch_onto_a_full_disk_fails_in_one_line_then_a_rerun_with_room_completes(
    small_disk: Path, big_wav: Path, capsys
) -> None:
    data = small_disk / "data"
    code, _, err = cli(["--data-dir", str(data), "fetch", str(big_wav)], capsys)
    assert code == 1
    [line] = err.splitlines()
    folder = next((data / "episodes").iterdir())
    assert line == (
        f"error: the disk is full (no space left on {small_disk}) writing "
        f"{folder / 'audio.wav'}; free some space on {small_disk} and rerun: finished steps "
        "are kept"
    )
    assert leftovers(small_disk) == []  # no .audio.wav.*.tmp
    assert not (folder / "audio.wav").exists()

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    code, _out, err = cli(["--data-dir", str(data), "fetch", str(big_wav)], capsys)
    assert code == 0, err
    assert (folder / "audio.wav").stat().st_size == big_wav.stat().st_size
    assert leftovers(small_disk) == []


def test_a_ledger_that_cannot_record_the_failure_never_masks_it(
    small_disk: Path, big_wav: Path
) -> None:
    config = config_on(small_disk)
    Ledger.of(config)  # the ledger exists; the disk fills up afterwards
    (config.episodes_dir).mkdir(parents=True)

    def fetch_onto_a_full_disk(job: Job) -> Episode:
        fill(small_disk)  # once the run holds its lease: the lock is taken before fetch
        return step_fetch(job)

    stream = io.StringIO()
    with pytest.raises(StorageError) as caught:
        run_episode(
            str(big_wav), config, report=Reporter(stream=stream, terminal=False),
            tasks={"fetch": fetch_onto_a_full_disk},
        )  # fmt: skip
    # the error is the audio's, not the ledger's "database or disk is full"
    [folder] = config.episodes_dir.iterdir()
    assert caught.value.message == (
        f"the disk is full (no space left on {small_disk}) writing {folder / 'audio.wav'}"
    )
    warnings = [line for line in stream.getvalue().splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the failure could not be recorded: the disk is full (no space left on "
        f"{small_disk}) writing {small_disk / 'data' / 'state.sqlite3'}; free some space on "
        f"{small_disk} and rerun: finished steps are kept"
    ]
    assert leftovers(small_disk) == []
    assert list(config.episodes_dir.rglob("audio.*")) == []


def test_an_enclosure_download_onto_a_full_disk_leaves_no_part(
    small_disk: Path, big_wav: Path, media_server, capsys
) -> None:
    from tests.fixtures.media import rss_feed

    enclosure = media_server.put("disk-full/long.wav", big_wav)
    feed = rss_feed(
        "Full Disk Radio",
        [{"title": "Long talk", "guid": "long-1", "enclosure": enclosure, "type": "audio/wav"}],
    )
    url = media_server.put("disk-full/feed.xml", feed)
    data = small_disk / "data"
    code, _, err = cli(["--data-dir", str(data), "fetch", url], capsys)
    assert code == 1
    # (the loopback media server's own thread may print the broken pipe of the abort)
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    [folder] = (data / "episodes").iterdir()
    assert line == (
        f"error: the disk is full (no space left on {small_disk}) writing "
        f"{folder / 'audio.wav'}; free some space on {small_disk} and rerun: finished steps "
        "are kept"
    )
    assert leftovers(small_disk) == []  # no audio.wav.part to resume from a full disk

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    code, out, err = cli(["--data-dir", str(data), "fetch", url], capsys)
    assert code == 0, err
    assert out == f"Long talk: {folder / 'episode.json'}\naudio: {folder / 'audio.wav'}\n"
    assert (folder / "audio.wav").stat().st_size == big_wav.stat().st_size
