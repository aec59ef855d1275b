"""The store: every name an episode's files and drafts have, and where they are kept.

This module owns every file name of the episode folder and of the drafts folder; no other
module spells one. Layout, relative to the storage root (a *key* is a path relative to
it, with ``/``)::

    episodes/<episode id>/episode.json      fetch
    episodes/<episode id>/audio.<ext>       fetch: the episode's audio
    episodes/<episode id>/captions.<...>    fetch, transcribe: caption files kept
    episodes/<episode id>/transcript.json   transcribe
    episodes/<episode id>/turns.json        turns
    episodes/<episode id>/editorial/        the editorial step's chunk cache
    episodes/<episode id>/editorial.json    editorial (summary: failures, flags, glossary)
    episodes/<episode id>/post.json         editorial (the post; `podpost render` renders it)
    episodes/<episode id>/run.json          what finished (:mod:`pipeline.run.state`)
    drafts/<episode id>.md                  the draft a person reviews

A draft's review record is not a file: it is a row of the state database keyed by the
draft's key (:mod:`pipeline.review.record`). An older release kept it beside the draft as
``<name>.meta.json``; such a file is only read (locally), never stored or pulled.

Where the root is (``[storage] url``, see :class:`Store`): with the default, the data
folder, which is then also the folder podpost works in, so nothing is ever copied. With
a URL (``s3://bucket/podpost``, any fsspec URL), a worker works in a local scratch folder
with the same layout: :meth:`Store.pull` brings what a step needs, :meth:`Store.push`
uploads what a step made when it finishes. Records keep keys (``drafts/<id>.md``), never
a machine's absolute path; :meth:`Store.local` turns one back into this machine's path.

Every command that takes an episode ("an episode id or its folder") resolves it with
:func:`find_episode`, so the step commands, ``podpost run``, ``render``, ``status`` and
``resume`` all mean the same folder. Every write is atomic.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.config import DRAFTS_FOLDER, EPISODES_FOLDER, Config
from pipeline.errors import InputFileError, StorageError
from pipeline.fsutil import write_atomic

M = TypeVar("M", bound=BaseModel)

# --- the names -----------------------------------------------------------------------------

EPISODES = EPISODES_FOLDER  # the folder of episode folders, under the root
DRAFTS = DRAFTS_FOLDER  # the drafts folder, under the root
EPISODE_FILE = "episode.json"
TRANSCRIPT_FILE = "transcript.json"
TURNS_FILE = "turns.json"
POST_FILE = "post.json"  # the editorial result; `podpost render` renders it again
EDITORIAL_FILE = "editorial.json"  # the editorial step's summary (failures, flags, glossary)
EDITORIAL_CACHE = "editorial"  # the editorial step's chunk cache, a folder
RUN_FILE = "run.json"  # the run record of releases before the state database (pipeline.db)
DRAFT_FILE = "draft.md"  # `podpost translate`'s draft, inside the episode folder
RECORD_SUFFIX = ".meta.json"  # an older release's review record beside a draft (read only)
AUDIO_STEM = "audio"  # the episode's audio: audio.<ext> (fetch)
CAPTIONS_STEM = "captions"  # caption files kept in the folder: captions.<...>.<ext>

# The command that writes each file, for the hint when it is missing.
MADE_BY = {
    EPISODE_FILE: "fetch",
    TRANSCRIPT_FILE: "transcribe",
    TURNS_FILE: "turns",
    POST_FILE: "translate",
}


def caption_name(*parts: str) -> str:
    """A caption file's name in the episode folder: ``captions.<part>...``; the parts
    name its language, kind and format (fetch, transcribe)."""
    return ".".join([CAPTIONS_STEM, *parts])


def draft_name(episode_id: str) -> str:
    """The draft's file name in the drafts folder: ``<episode_id>.md``."""
    return f"{episode_id}.md"


def record_path(draft_path: Path) -> Path:
    """Where an older release kept the review record of ``draft_path``:
    ``<name>.meta.json`` beside it."""
    draft_path = Path(draft_path)
    return draft_path.with_name(f"{draft_path.stem}{RECORD_SUFFIX}")


def episode_dir(config: Config, episode_id: str) -> Path:
    """``<work_dir>/episodes/<episode_id>``; not created here."""
    return config.episodes_dir / episode_id


# --- the storage ---------------------------------------------------------------------------

# (storage url, working folder, key) -> (size, mtime_ns) of the local copy when it was
# last pulled or pushed, so that a push uploads only what changed since, in this process.
_SYNCED: dict[tuple[str, str, str], tuple[int, int]] = {}


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class Store:
    """Episodes and drafts under one root: the local working folder ``root`` and, when
    ``url`` is set, the object storage it mirrors (through fsspec; ``options`` are the
    filesystem's, e.g. ``endpoint_url`` for s3). Without ``url`` every pull and push is
    a no-op: the working folder is the storage."""

    def __init__(self, root: Path, url: str | None = None, options: dict[str, Any] | None = None):
        self.root = Path(root)
        self.url = url.rstrip("/") if url else None
        self.options = dict(options or {})
        self._fs: Any = None
        self._base = ""

    @classmethod
    def of(cls, config: Config) -> Store:
        """The store ``config`` names (``[storage]``), working in ``config.work_dir``."""
        options = dict(config.storage.options)
        if config.storage.endpoint_url:
            options.setdefault("endpoint_url", config.storage.endpoint_url)
        return cls(config.work_dir, config.storage.url, options)

    @property
    def remote(self) -> bool:
        """True when the storage is not the working folder (``[storage] url`` is set)."""
        return self.url is not None

    # keys and paths

    def key(self, path: Path | str) -> str | None:
        """The key of a local path under the working folder; None for a path outside it."""
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return PurePosixPath(*relative.parts).as_posix() if relative.parts else None

    def name_of(self, path: Path | str) -> str:
        """What a record keeps for ``path``: its key when it is under the working folder
        (so it means the same file on every machine), else the path as it is."""
        return self.key(path) or str(path)

    def local(self, name: str | Path) -> Path:
        """This machine's path of a key (or of a path kept by an older release as is)."""
        path = Path(name)
        return path if path.is_absolute() else self.root / path

    # the remote side

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            import fsspec  # only a store with a URL needs it

            try:
                self._fs, self._base = fsspec.core.url_to_fs(self.url or "", **self.options)
            except (ImportError, ValueError) as e:
                raise StorageError(
                    f"cannot open the storage {self.url}: {e}",
                    hint="check [storage] url; s3:// needs the s3 extra (pip install s3fs)",
                ) from e
            self._base = self._base.rstrip("/")
        return self._fs, self._base

    def _synced(self, key: str) -> tuple[str, str, str]:
        return str(self.url), str(self.root), key

    def _remote(self, key: str) -> str:
        return f"{self._filesystem()[1]}/{key}"

    def _fail(self, what: str, key: str, e: BaseException) -> StorageError:
        return StorageError(
            f"cannot {what} {self.url}/{key}: {e}",
            hint="check [storage] url, endpoint_url and the storage's credentials",
        )

    def keys(self, prefix: str) -> list[str]:
        """The keys of every file stored under ``prefix`` (a folder key), sorted."""
        return sorted(self._listing(prefix))

    def _listing(self, prefix: str) -> dict[str, dict[str, Any]]:
        """``{key: info}`` of every file stored under ``prefix``, in one listing (info:
        size and, on s3, the ETag; nothing without ``url``)."""
        if not self.remote:
            folder = self.root / prefix
            if not folder.is_dir():
                return {}
            return {
                PurePosixPath(*p.relative_to(self.root).parts).as_posix(): {}
                for p in folder.rglob("*")
                if p.is_file()
            }
        fs, base = self._filesystem()
        fs.invalidate_cache()  # another machine may have written since
        try:
            found = fs.find(f"{base}/{prefix}", detail=True)
        except FileNotFoundError:
            return {}
        except _failures() as e:
            raise self._fail("list", prefix, e) from e
        start = len(base) + 1
        return {
            str(name)[start:]: info
            for name, info in found.items()
            if str(name).startswith(f"{base}/")
        }

    def pull(self, key: str, info: dict[str, Any] | None = None) -> bool:
        """Bring the stored file ``key`` into the working folder, unless the local copy is
        the same already (its MD5 is the stored ETag; a file over 32 MiB, audio: the same
        size); False when it is not stored. ``info``: the file's, from a listing. A no-op
        (True when the file is there) without ``url``."""
        local = self.root / key
        if not self.remote:
            return local.is_file()
        fs, _ = self._filesystem()
        remote = self._remote(key)
        if info is None:
            try:
                info = fs.info(remote)
            except FileNotFoundError:
                return False
            except _failures() as e:
                raise self._fail("read", key, e) from e
        if _same(local, info):
            return True
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=".part")
        os.close(fd)
        try:
            fs.get_file(remote, tmp)
            os.replace(tmp, local)
        except FileNotFoundError:
            return False
        except _failures() as e:
            raise self._fail("download", key, e) from e
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._keep_mtime(key)
        _SYNCED[self._synced(key)] = _stat(local) or (0, 0)
        return True

    def _keep_mtime(self, key: str) -> None:
        """A big file (audio) gets the modification time it had where it was made (kept
        in the object's metadata on s3), so its fingerprint (size and mtime, see
        :func:`pipeline.run.state.fingerprint`) is the same on every machine and its
        step is not redone after a pull."""
        local = self.root / key
        have = _stat(local)
        fs, _ = self._filesystem()
        if have is None or have[0] <= _BIG or not _is_s3(fs):
            return
        try:
            made = (fs.metadata(self._remote(key)) or {}).get(MTIME_META)
        except _failures() as e:
            raise self._fail("read", key, e) from e
        if made and str(made).isdigit():
            os.utime(local, ns=(time.time_ns(), int(made)))

    def _pull_many(self, listing: dict[str, dict[str, Any]]) -> None:
        """Pull the listed files (``{key: info}``) that differ from the local copies, all
        downloads at once (fsspec runs them concurrently), each put in place atomically."""
        todo = {k: i for k, i in listing.items() if not _same(self.root / k, i)}
        if not todo:
            return
        fs, _ = self._filesystem()
        temporary: dict[str, str] = {}
        try:
            for key in todo:
                local = self.root / key
                local.parent.mkdir(parents=True, exist_ok=True)
                fd, temporary[key] = tempfile.mkstemp(
                    dir=local.parent, prefix=f".{local.name}.", suffix=".part"
                )
                os.close(fd)
            keys = list(temporary)
            try:
                fs.get([self._remote(k) for k in keys], [temporary[k] for k in keys])
            except _failures() as e:
                raise self._fail("download", keys[0], e) from e
            for key in keys:
                os.replace(temporary[key], self.root / key)
                self._keep_mtime(key)
                _SYNCED[self._synced(key)] = _stat(self.root / key) or (0, 0)
        finally:
            for path in temporary.values():
                if os.path.exists(path):
                    os.unlink(path)

    def push(self, *paths: Path) -> None:
        """Upload each of ``paths`` (files under the working folder) that changed since it
        was last pulled or pushed. A no-op without ``url``."""
        if not self.remote:
            return
        fs, _ = self._filesystem()
        for path in paths:
            key = self.key(path)
            now = _stat(Path(path))
            if key is None or now is None or not Path(path).is_file():
                continue
            if _SYNCED.get(self._synced(key)) == now:
                continue
            extra = {}
            if now[0] > _BIG and _is_s3(fs):  # see _keep_mtime
                extra = {"Metadata": {MTIME_META: str(now[1])}}
            try:
                fs.put_file(str(path), self._remote(key), **extra)
            except _failures() as e:
                raise self._fail("upload", key, e) from e
            _SYNCED[self._synced(key)] = now

    def _files(self, folder: Path) -> Iterator[Path]:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not _local_only(path):
                    yield path

    # episodes and drafts

    def episode_ids(self) -> list[str]:
        """Every episode id with a folder in the storage."""
        ids = {key.split("/")[1] for key in self.keys(EPISODES) if key.count("/") >= 2}
        return sorted(ids)

    def pull_episode(
        self, episode_id: str, names: Sequence[str] | None = None, *, keep: Sequence[str] = ()
    ) -> None:
        """Bring the episode's stored files (only ``names`` when given; never those in
        ``keep``, files this machine just made) into its folder."""
        if not self.remote:
            return
        prefix = f"{EPISODES}/{episode_id}"
        if names is not None:
            for name in names:
                self.pull(f"{prefix}/{name}")
            return
        kept = {f"{prefix}/{name}" for name in keep}
        self._pull_many(
            {
                key: info
                for key, info in self._listing(prefix).items()
                if key not in kept and not _local_only(Path(key))
            }
        )

    def push_episode(self, episode_id: str) -> None:
        """Upload what changed in the episode's folder (a step's outputs, its run record)."""
        if self.remote:
            self.push(*self._files(self.root / EPISODES / episode_id))

    def pull_drafts(self, episode_id: str | None = None) -> None:
        """Bring the stored drafts (only the episode's when given: its draft and the
        versions written beside it) into the drafts folder."""
        if not self.remote:
            return
        self._pull_many(
            {
                key: info
                for key, info in self._listing(DRAFTS).items()
                if episode_id is None or key.split("/")[-1].startswith(f"{episode_id}.")
            }
        )

    def push_draft(self, draft: Path) -> None:
        """Upload a draft (its review record is in the state database)."""
        self.push(Path(draft))

    def pull_records(self) -> None:
        """What ``podpost status`` and ``review`` read: every episode's
        :data:`RECORD_FILES` and every draft, so a machine with only the settings sees
        them all (unchanged files are not fetched again)."""
        if not self.remote:
            return
        self._pull_many(
            {
                key: info
                for key, info in self._listing(EPISODES).items()
                if key.count("/") == 2 and key.split("/")[2] in RECORD_FILES
            }
        )
        self.pull_drafts()

    # the conditional write of a draft

    def version(self, path: Path) -> str | None:
        """The stored version (ETag) of the file at ``path``; None without ``url`` or
        when it is not stored."""
        key = self.key(path)
        if not self.remote or key is None:
            return None
        fs, _ = self._filesystem()
        fs.invalidate_cache()
        try:
            info = fs.info(self._remote(key))
        except FileNotFoundError:
            return None
        except _failures() as e:
            raise self._fail("read", key, e) from e
        tag = info.get("ETag") or info.get("etag")
        return str(tag) if tag else None

    def refresh(self, path: Path) -> str | None:
        """Pull the stored file at ``path`` and return the version it had (ETag, read
        before the content: a write in between makes the later conditional write fail,
        never pass). None without ``url``."""
        key = self.key(path)
        if not self.remote or key is None:
            return None
        version = self.version(path)
        self.pull(key)
        return version

    def put_if_version(self, path: Path, data: bytes, version: str | None) -> bool:
        """Store ``data`` as the file at ``path`` only if the stored file is still the
        ``version`` (an ETag from :meth:`version`); False when another writer came first.
        The local copy is written too. Without ``url``: written (the caller holds the
        draft's lock)."""
        key = self.key(path)
        if self.remote and key is not None:
            fs, _ = self._filesystem()
            try:
                if not _put_if_match(fs, self._remote(key), data, version):
                    return False
            except _failures() as e:
                raise self._fail("write", key, e) from e
        write_atomic(Path(path), data)
        if self.remote and key is not None:
            _SYNCED[self._synced(key)] = _stat(Path(path)) or (0, 0)
        return True


_BIG = 32 * 1024 * 1024  # bytes: above this a stored file of the same size is not fetched
# What status and review read of each episode (its audio, transcript and cache: no)
RECORD_FILES = frozenset({EPISODE_FILE, TURNS_FILE, EDITORIAL_FILE})


def _same(local: Path, info: dict[str, Any]) -> bool:
    """Whether the local file is the stored one: the same size, and the same MD5 when
    the store's ETag is one (a single-part S3 upload); over 32 MiB the size alone."""
    have = _stat(local)
    if have is None or have[0] != info.get("size"):
        return False
    if have[0] > _BIG:
        return True
    tag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if len(tag) != 32 or "-" in tag:
        return False  # no content hash to compare: fetch it again
    return hashlib.md5(local.read_bytes(), usedforsecurity=False).hexdigest() == tag


def _failures() -> tuple[type[Exception], ...]:
    """What a store call raises when the store cannot be reached or refuses: OSError
    (fsspec's), and botocore's own errors on s3 (no credentials, no endpoint)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no s3 support installed: no botocore either
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


MTIME_META = "podpost-mtime-ns"  # a big file's modification time where it was made


def _is_s3(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return "s3" in protocols


def _local_only(path: Path) -> bool:
    """Unfinished temporary files stay on the machine that made them, and so do an older
    release's review records (the state database holds the records)."""
    return path.name.endswith((".part", ".tmp", RECORD_SUFFIX))


def _put_if_match(fs: Any, remote: str, data: bytes, version: str | None) -> bool:
    """A conditional PutObject on s3 (If-Match: the ETag; If-None-Match: * for a new
    object); other fsspec stores: compare, then write (not atomic across machines)."""
    if _is_s3(fs):
        bucket, _, key = remote.partition("/")
        condition = {"IfMatch": version} if version else {"IfNoneMatch": "*"}
        try:
            fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
        except FileExistsError:  # s3fs's word for a failed If-None-Match
            return False
        except OSError as e:  # s3fs keeps botocore's error as the cause
            if _precondition_failed(e.__cause__ or e):
                return False
            raise
        finally:
            fs.invalidate_cache(remote)
        return True
    try:
        now = fs.info(remote)
        current = now.get("ETag") or now.get("etag") or now.get("mtime")
    except FileNotFoundError:
        current = None
    if version is not None and current is not None and str(current) != version:
        return False
    fs.pipe_file(remote, data)
    return True


def _precondition_failed(e: BaseException) -> bool:
    """Whether S3 refused a conditional write (412; 409 when two raced)."""
    response = getattr(e, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("PreconditionFailed", "ConditionalRequestConflict")


# --- episode folders -----------------------------------------------------------------------


def existing_episode(config: Config, ref: str | Path) -> Path | None:
    """The episode folder ``ref`` names (a folder path, or an id under ``data_dir``), when
    it holds an ``episode.json``; None otherwise (``ref`` may then be a source to fetch)."""
    path = Path(ref).expanduser()
    if (path / EPISODE_FILE).is_file():
        return path
    if "/" not in str(ref) and str(ref) not in ("", ".", ".."):
        folder = episode_dir(config, str(ref))
        Store.of(config).pull_episode(str(ref))
        if (folder / EPISODE_FILE).is_file():
            return folder
    return None


def find_episode(config: Config, ref: str | Path, needs: Sequence[str] = (EPISODE_FILE,)) -> Path:
    """The episode folder ``ref`` names (a folder, or an episode id under ``data_dir``;
    pulled from the storage when it is kept there).

    Raises :class:`InputFileError` naming the first of ``needs`` (file names in the folder)
    that is missing and the command that makes it.
    """
    path = Path(ref).expanduser()
    if path.is_dir():
        folder = path
    else:
        folder = episode_dir(config, str(ref))
        if "/" not in str(ref) and str(ref) not in ("", ".", ".."):
            Store.of(config).pull_episode(str(ref))
    for name in needs:
        if (folder / name).is_file():
            continue
        if name == EPISODE_FILE:
            raise InputFileError(
                f"{ref} is not an episode folder (no {EPISODE_FILE})",
                hint="pass a folder that `podpost fetch` wrote, or its episode id",
            )
        raise InputFileError(
            f"{folder / name} does not exist",
            hint=f"give an episode folder made by `podpost {MADE_BY.get(name, 'run')}`, "
            "or its episode id",
        )
    return folder


def save(path: Path, model: BaseModel) -> Path:
    """Write ``model`` as indented JSON to ``path`` atomically; returns ``path``.
    Raises :class:`~pipeline.errors.StorageError` when it cannot be written."""
    return write_atomic(path, model.model_dump_json(indent=2))


def load(path: Path, cls: type[M]) -> M:
    """The ``cls`` instance stored as JSON at ``path``.

    Raises :class:`InputFileError` when the file is missing, unreadable, or not a valid
    ``cls`` (the message says which, and which step remakes it).
    """
    try:
        return cls.model_validate_json(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise InputFileError(f"{path} does not exist", hint="run the step that makes it") from e
    except OSError as e:  # a folder in its place, no permission, an I/O error
        raise InputFileError(
            f"cannot read {path}: {e.strerror or e}", hint="check the file and its permissions"
        ) from e
    except ValidationError as e:
        raise InputFileError(
            f"{path} is not a valid {cls.__name__}: {e.errors()[0]['msg']}",
            hint="delete it and rerun the step that makes it",
        ) from e
