"""Episodes and drafts on object storage (``[storage] url``), against a real S3 API.

The S3 API is moto's server mode on loopback (``tests/s3server.py``); podpost reaches it
through fsspec and s3fs as it would any S3. Two "machines" are two data folders with
their own scratch folders and nothing else in common but the bucket: an episode run on
the first (captions backend, the fake LLM) is seen, reviewed and approved from the
second, and nothing stored names either machine's folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.db import open_state
from pipeline.errors import ConfigError, StaleEditError
from pipeline.post.render import render_post
from pipeline.review.record import load_record
from pipeline.review.saving import Edits, save_edits
from pipeline.run.state import load_state
from pipeline.store import Store
from tests.cli_helpers import cli
from tests.fixtures.flows import LINES, captions_vtt, run_cli, write_config
from tests.fixtures.review import clean_post
from tests.s3server import S3Server


def _config(data: Path, env: dict[str, str]) -> Config:
    return load_config(env=env, overrides={"data_dir": data})


# --- the default costs nothing ------------------------------------------------------------


def test_the_default_storage_is_the_data_folder(tmp_path: Path) -> None:
    config = _config(tmp_path / "data", {})
    store = Store.of(config)
    assert (config.work_dir, config.episodes_dir) == (tmp_path / "data", tmp_path / "data/episodes")
    assert not store.remote
    draft = config.drafts_path / "abc.md"
    assert store.name_of(draft) == "drafts/abc.md"
    assert store.local("drafts/abc.md") == draft
    assert store.local(str(tmp_path / "x.md")) == tmp_path / "x.md"  # an older absolute path
    assert store.name_of(tmp_path / "x.md") == str(tmp_path / "x.md")  # outside: as it is
    store.push(draft)  # no-ops: nothing to copy anywhere
    store.pull_records()
    assert store.pull("drafts/abc.md") is False


def test_drafts_dir_cannot_leave_the_storage(tmp_path: Path) -> None:
    env = {"PODPOST_STORAGE__URL": "s3://bucket/podpost", "PODPOST_DRAFTS_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="drafts_dir cannot be set with \\[storage\\] url"):
        _config(tmp_path / "data", env)


def test_scratch_folder_is_per_storage_url(tmp_path: Path) -> None:
    one = _config(tmp_path, {"PODPOST_STORAGE__URL": "s3://a/podpost"})
    two = _config(tmp_path, {"PODPOST_STORAGE__URL": "s3://b/podpost"})
    assert one.work_dir != two.work_dir and one.work_dir != tmp_path
    assert one.episodes_dir == one.work_dir / "episodes"


# --- the store against S3 -----------------------------------------------------------------


def _machine(tmp_path: Path, name: str, s3: S3Server, url: str) -> Config:
    env = {**s3.env(url), "PODPOST_STORAGE__SCRATCH_DIR": str(tmp_path / name / "scratch")}
    return _config(tmp_path / name / "data", env)


def test_push_pull_and_keys_on_s3(tmp_path: Path, s3_server: S3Server, monkeypatch) -> None:
    for key, value in s3_server.env("").items():
        monkeypatch.setenv(key, value)  # boto reads the credentials itself
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/podpost"
    one = Store.of(_machine(tmp_path, "one", s3_server, url))
    two = Store.of(_machine(tmp_path, "two", s3_server, url))
    made = one.root / "episodes/e1/turns.json"
    made.parent.mkdir(parents=True)
    made.write_text('{"segments": []}')
    (one.root / "episodes/e1/audio.m4a.part").write_text("")  # a download under way
    one.push_episode("e1")
    assert s3_server.keys(bucket) == ["podpost/episodes/e1/turns.json"]  # not the .part
    assert two.episode_ids() == ["e1"]
    two.pull_episode("e1")
    pulled = two.root / "episodes/e1/turns.json"
    assert pulled.read_text() == '{"segments": []}'
    inode = pulled.stat().st_ino
    two.pull_episode("e1")  # the same as stored (its MD5 is the ETag): not fetched again
    assert pulled.stat().st_ino == inode
    made.write_text('{"segments": [1]}')
    one.push_episode("e1")
    two.pull_records()  # a changed record is fetched again, atomically (a new file)
    assert pulled.read_text() == '{"segments": [1]}'
    assert two.pull("episodes/e1/missing.json") is False


def test_a_save_is_a_conditional_write_on_s3(
    tmp_path: Path, s3_server: S3Server, monkeypatch
) -> None:
    """Two editors on two machines load the same draft; the first save wins, the second
    is refused with the text now stored, and nothing is overwritten."""
    for key, value in s3_server.env("").items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/podpost"
    one = Store.of(_machine(tmp_path, "one", s3_server, url))
    two = Store.of(_machine(tmp_path, "two", s3_server, url))
    text = render_post(clean_post())
    first = one.root / "drafts/ep.md"
    first.parent.mkdir(parents=True)
    first.write_text(text)
    one.push_draft(first)
    two.pull_drafts()
    second = two.root / "drafts/ep.md"
    base = hashlib.sha256(text.encode()).hexdigest()

    saved = save_edits(first, Edits(base_sha256=base, front={"title": "First"}), one)
    assert "title: First" in saved
    with pytest.raises(StaleEditError) as refused:
        save_edits(second, Edits(base_sha256=base, front={"title": "Second"}), two)
    assert refused.value.current == saved  # the page is shown what is stored now
    body = s3_server.client().get_object(Bucket=bucket, Key="podpost/drafts/ep.md")["Body"]
    assert body.read().decode() == saved
    assert second.read_text() == saved  # the second machine's copy is the stored one


# --- a real episode, then another machine ---------------------------------------------------


@pytest.mark.slow
def test_an_episode_on_s3_is_reviewed_and_approved_from_another_machine(
    tmp_path: Path,
    audio,
    fake_llm,
    prefect_api,
    s3_server: S3Server,
    pg_url: str,
    capsys,
    monkeypatch,
) -> None:
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/podpost"
    media = tmp_path / "media"
    media.mkdir()
    talk = media / "talk.mp3"
    shutil.copy(audio.speech(LINES[:4], fmt="mp3", gap=0.4), talk)
    talk.with_suffix(".vtt").write_text(captions_vtt(audio, LINES[:4]))
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
    one, two = tmp_path / "one", tmp_path / "two"

    # machine one runs the episode: each step's outputs are uploaded as it finishes
    # the two machines share the bucket and the state database (PostgreSQL), nothing else
    env = {
        **prefect_api.client_env(),
        **s3_server.env(url),
        "PODPOST_STATE__URL": pg_url,
        "PODPOST_STORAGE__SCRATCH_DIR": str(one / "scratch"),
    }
    done = run_cli(
        ["--config", str(config), "--data-dir", str(one / "data"), "run", str(talk)], env=env
    )
    assert done.returncode == 0, done.stderr
    draft_one = Path(done.stdout.strip())
    episode = draft_one.stem
    assert draft_one == one / "scratch" / "drafts" / f"{episode}.md"
    keys = s3_server.keys(bucket)
    folder = f"podpost/episodes/{episode}"
    for name in ("episode.json", "transcript.json", "turns.json", "editorial.json", "post.json"):
        assert f"{folder}/{name}" in keys, keys
    assert f"{folder}/run.json" not in keys  # the run record is in the state database
    assert f"podpost/drafts/{episode}.md" in keys
    assert f"podpost/drafts/{episode}.meta.json" not in keys  # the review record: in the DB
    review = load_record(open_state(Config(state={"url": pg_url})), draft_one)
    assert review is not None and review.episode_id == episode and review.generated_sha256
    client = s3_server.client()
    for key in keys:  # nothing stored names a folder of the machine that wrote it
        if key.endswith((".json", ".md")):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            assert str(one) not in body, key
    record = load_state(open_state(Config(state={"url": pg_url})), episode)
    assert record is not None and record.draft_path == f"drafts/{episode}.md"

    # machine two has only the settings: status, review and approve see the episode
    def machine(name: Path) -> list[str]:
        monkeypatch.setenv("PODPOST_STORAGE__SCRATCH_DIR", str(name / "scratch"))
        return ["--config", str(config), "--data-dir", str(name / "data")]

    for key, value in {**s3_server.env(url), "PODPOST_STATE__URL": pg_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli([*machine(one), "review", episode, "--json"], capsys)
    assert code == 0, err
    review_one = json.loads(out)
    base = machine(two)
    code, out, err = cli([*base, "status", "--json"], capsys)
    assert code == 0, err
    [row] = json.loads(out)
    draft_two = two / "scratch" / "drafts" / f"{episode}.md"
    assert (row["id"], row["state"], row["draft"], row["review"]) == (
        episode, "done", str(draft_two), "drafted",
    )  # fmt: skip
    assert draft_two.read_text() == draft_one.read_text()
    code, out, err = cli([*base, "review", episode, "--json"], capsys)
    assert code == 0, err
    review_two = json.loads(out)
    assert review_two["path"] == str(draft_two)
    # the same review, flags and turn times included: the episode's files came along
    assert {**review_two, "path": ""} == {**review_one, "path": ""}
    assert review_two["turns"] and review_two["turns"][0]["start"] is not None
    site = tmp_path / "site"
    site.mkdir()
    code, out, err = cli([*base, "approve", episode, "--to", str(site), "--override"], capsys)
    assert code == 0, err
    assert [p.name for p in site.iterdir()] and out.startswith(f"approved {episode}.md; wrote ")

    # ... and machine one sees the decision made on machine two
    code, out, err = cli([*machine(one), "status", "--json"], capsys)
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["review"], row["published"]) == ("approved", str(site / next(site.iterdir()).name))

    # machine two resumes it: every step is finished on the storage, nothing is redone
    fake_llm.reset()
    env_two = {
        **prefect_api.client_env(),
        **s3_server.env(url),
        "PODPOST_STATE__URL": pg_url,
        "PODPOST_STORAGE__SCRATCH_DIR": str(two / "scratch"),
    }
    resumed = run_cli([*base, "resume", episode], env=env_two)
    assert resumed.returncode == 0, resumed.stderr
    for step in ("fetch", "transcribe", "turns", "editorial"):
        assert f"{step}: finished before, kept" in resumed.stderr, resumed.stderr
    assert fake_llm.requests() == []


def test_two_previews_on_two_machines_cannot_overwrite_each_other(
    tmp_path: Path, s3_server: S3Server, monkeypatch
) -> None:
    """The preview's own routes with the draft on S3: both pages load the same version
    (its ETag), the first save is written to the bucket (200), the second gets 409 with
    the version now stored, and a reload on the second machine shows the first's save."""
    from pipeline.review.preview import create_app
    from tests.fixtures.review import preview_client

    for key, value in s3_server.env("").items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.bucket()
    url = f"s3://{bucket}/podpost"
    configs = [_machine(tmp_path, name, s3_server, url) for name in ("one", "two")]
    one, two = (Store.of(config) for config in configs)
    text = render_post(clean_post())
    draft = one.root / "drafts/ep.md"
    draft.parent.mkdir(parents=True)
    draft.write_text(text)
    one.push_draft(draft)
    two.pull_drafts()
    pages = [
        preview_client(
            create_app(store.root / "drafts/ep.md", storage=store, db=open_state(config))
        )
        for store, config in zip((one, two), configs, strict=True)
    ]
    versions = [page.get("/").headers["ETag"] for page in pages]
    assert versions[0] == versions[1] == f'"{hashlib.sha256(text.encode()).hexdigest()}"'
    body = {"base_sha256": "", "front": {"title": "From one"}}
    saved = pages[0].post("/api/save", json=body, headers={"If-Match": versions[0]})
    assert saved.status_code == 200, saved.text
    body = {"base_sha256": "", "front": {"title": "From two"}}
    refused = pages[1].post("/api/save", json=body, headers={"If-Match": versions[1]})
    assert refused.status_code == 409, refused.text
    assert refused.headers["ETag"] == saved.headers["ETag"]
    stored = s3_server.client().get_object(Bucket=bucket, Key="podpost/drafts/ep.md")
    assert "title: From one" in stored["Body"].read().decode()
    assert pages[1].get("/").headers["ETag"] == saved.headers["ETag"]


def test_a_big_file_keeps_its_fingerprint_on_another_machine(
    tmp_path: Path, s3_server: S3Server, monkeypatch
) -> None:
    """Audio above the hashing limit is fingerprinted by size and mtime: the object keeps
    the mtime it had where it was made, so the pulled copy's fingerprint is the same and
    its fetch step is not redone. (Both limits lowered to 10 bytes to keep the file tiny.)"""
    import pipeline.store as store_module
    from pipeline.run import state

    monkeypatch.setattr(store_module, "_BIG", 10)
    monkeypatch.setattr(state, "_HASH_LIMIT", 10)
    for key, value in s3_server.env("").items():
        monkeypatch.setenv(key, value)
    url = f"s3://{s3_server.bucket()}/podpost"
    one = Store.of(_machine(tmp_path, "one", s3_server, url))
    two = Store.of(_machine(tmp_path, "two", s3_server, url))
    audio = one.root / "episodes/e1/audio.mp3"
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"\xff" * 100)
    os.utime(audio, ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    one.push_episode("e1")
    two.pull_episode("e1")
    pulled = two.root / "episodes/e1/audio.mp3"
    assert pulled.stat().st_mtime_ns == 1_700_000_000_123_456_789
    assert (
        state.fingerprint(pulled)
        == state.fingerprint(audio)
        == ("size:100:mtime:1700000000123456789")
    )


def test_review_without_storage_credentials_is_one_line(
    tmp_path: Path, s3_server: S3Server, capsys, monkeypatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # fsspec keeps filesystems with their credentials
    monkeypatch.setenv("PODPOST_STORAGE__URL", "s3://podpost-none/podpost")
    monkeypatch.setenv("PODPOST_STORAGE__ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("PODPOST_STORAGE__SCRATCH_DIR", str(tmp_path / "scratch"))
    code, out, err = cli(["--data-dir", str(tmp_path / "data"), "review"], capsys)
    assert (code, out) == (1, ""), err  # StorageError's exit code
    assert err == (
        "error: cannot list s3://podpost-none/podpost/episodes: Unable to locate credentials; "
        "check [storage] url, endpoint_url and the storage's credentials\n"
    )
