"""One typed configuration, built once at the entry point and passed down.

Precedence, lowest first: defaults, the TOML file, ``PODPOST_*`` environment variables
(``PODPOST_LLM__MODEL=...`` sets ``[llm] model``), then command-line flags. The SDK's
standard ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` fill ``[llm]`` when nothing else does.
No other module reads the environment.

An unknown ``PODPOST_*`` name is not an error: :func:`unknown_env` names it (and the
nearest valid name) for the entry point to print as a warning, and the value is ignored.
``PODPOST_CONFIG`` and ``PODPOST_DEBUG`` are read by the entry point, not settings.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.langtags import normalize_language

ENV_PREFIX = "PODPOST_"
CONFIG_FILE_NAME = "podpost.toml"
# the two folders under the storage root (pipeline.store names what is inside them)
EPISODES_FOLDER = "episodes"
DRAFTS_FOLDER = "drafts"
# Where things are on one machine: never recorded with an episode's settings, so a run
# record means the same on every machine.
MACHINE_SETTINGS = frozenset({"data_dir", "drafts_dir", "site_dir", "storage"})


def episode_settings(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` without :data:`MACHINE_SETTINGS`: what a run record keeps."""
    return {k: v for k, v in overrides.items() if k not in MACHINE_SETTINGS}


CONFIG_VAR = f"{ENV_PREFIX}CONFIG"  # the config file's path
DEBUG_VAR = f"{ENV_PREFIX}DEBUG"  # 1: tracebacks for unexpected errors, like --debug
ENTRY_VARS = frozenset({CONFIG_VAR, DEBUG_VAR})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _language_tag(value: str) -> str:
    """A setting's language as a BCP 47 tag ("deu" -> "de", "en_us" -> "en-US"); a value
    that names no language is a ValueError, so a typo fails before any work."""
    tag = normalize_language(value)
    if tag is None:
        raise ValueError(f"{value!r} is not a language tag; use a BCP 47 tag such as zh-CN, de")
    return tag


LanguageTag = Annotated[str, AfterValidator(_language_tag)]


class FetchConfig(_Section):
    """``[fetch]``: limits checked before downloading, and network retries (seconds, bytes)."""

    max_duration: float = 4 * 3600  # seconds; refuse longer episodes before downloading
    max_bytes: int = 2 * 1024**3  # refuse larger media before downloading (and while streaming)
    # caps enforced while streaming (decoded bytes, so a compressed bomb stops too)
    max_feed_bytes: int = 32 * 1024**2  # an RSS/Atom feed
    max_redirects: int = 10  # each hop is checked against the URL policy
    # The fetch stage's one retry layer: extra attempts after a transient network error
    # (the flow does not retry the fetch step again). With the defaults a host that never
    # answers fails after 3 attempts of `timeout` plus 1 + 2 s of waiting: 63 s.
    retries: int = 2
    retry_wait: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 20.0  # seconds: socket timeout to connect and for each read
    progress: bool = True
    # URLs named by a feed or page may point at loopback/private hosts only when the
    # user's own source is on such a network, or when this is true
    allow_private_hosts: bool = False


class AsrConfig(_Section):
    """``[asr]``: the transcription backend, whisper model and decoding settings."""

    backend: str = "whisper"  # whisper | faster-whisper | captions | auto
    # whisper model name, or a path: a .pt checkpoint (whisper), a CTranslate2 folder
    # (faster-whisper)
    model: str = "turbo"
    device: str | None = None  # None: cuda when available, else cpu
    compute_type: str | None = None  # faster-whisper; None: float16 on cuda, float32 on cpu
    # faster-whisper: cut each window into clips of at most 30 s at quiet moments and
    # decode `batch_size` clips at once (BatchedInferencePipeline). None: on a GPU only.
    # It works on CPU too, but has no temperature fallback or hallucination skip (a loop
    # is dropped and its stretch decoded again): measured on one CPU file only so far
    batched: bool | None = None
    batch_size: int = 8  # faster-whisper, batched: clips decoded together
    language: LanguageTag | None = None  # None: from episode metadata, else detected
    beam_size: int = 5
    best_of: int = 5  # candidates sampled at temperatures above 0
    condition_on_previous_text: bool = False  # True invites runaway repetition loops
    # The show and people names as the first window's prompt. Measured on tiny.en
    # (BENCHMARKS.md): it made the first window of one interview skip 20 s (rescued, at
    # greedy quality: WER 0.199 against 0.165 without it), but without it the whisper
    # backend dropped a sentence's first words on another: on by default, yours to turn off.
    prompt_names: bool = True
    # ...and carried into every window (tiny.en given it on every window skipped 20 s)
    carry_initial_prompt: bool = False
    vad: bool = True
    vad_engine: str = "silero"  # silero | webrtc
    vad_threshold: float = 0.5  # silero speech probability
    automatic_captions: bool = False  # use a source's automatic captions in `captions`
    # preferred, else the episode's
    caption_languages: list[LanguageTag] = Field(default_factory=list)
    # a caption file or transcript larger than this is refused before it is read: a
    # 3-hour episode's SRT is about 0.3 MB, and parsing one costs ~25x its size in memory
    # (BENCHMARKS.md, bench/hostile_inputs.py: 4.3 MB took 184 MB at peak, 19 MB 535 MB)
    max_caption_bytes: int = Field(default=5 * 1024**2, ge=1)
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4  # above it a segment is a repetition loop
    hallucination_silence_threshold: float | None = 2.0  # seconds; needs word timestamps
    window_seconds: float = 600.0  # audio decoded per whisper call; bounds memory on long files
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


class DiarizeConfig(_Section):
    """``[diarize]``: the diarization backend and the speaker-count bounds."""

    backend: str = "builtin"  # builtin | pyannote | none
    num_speakers: int | None = Field(default=None, ge=1)
    min_speakers: int = Field(default=1, ge=1)
    max_speakers: int = Field(default=6, ge=1)
    pyannote_pipeline: str = "pyannote/speaker-diarization-3.1"  # HF id or local folder
    hf_token: str | None = None
    # builtin: the speaker encoder: resemblyzer (embedded, nothing downloaded), a known
    # ONNX model name (downloaded on first use, checksum pinned) or an .onnx path
    embedding: str = "resemblyzer"
    models_dir: Path | None = None  # where downloaded models go (default: the user cache)
    # builtin, unknown speaker count: clusters of embeddings further apart than this
    # (average cosine distance after per-recording normalisation) are different people.
    # Lower it if two people come out as one; raise it if one person comes out as two.
    cluster_threshold: float = Field(default=0.3, gt=0, lt=2)
    vad: Literal["silero", "webrtc"] = "silero"  # builtin: speech detection before clustering


class TurnsConfig(_Section):
    """``[turns]``: turn length (characters), islands (seconds) and name overrides."""

    max_turn_chars: int = 2500  # longer monologues split at sentence boundaries
    min_island_seconds: float = 1.0
    speakers: list[str] = Field(default_factory=list)  # override, in order of appearance
    speaker_map: dict[str, str] = Field(default_factory=dict)  # cluster label -> name


def machine_context_tokens(memory_bytes: int | None = None) -> int:
    """The context window a local model gets on this machine, by its memory: 4096 tokens
    under 8 GiB, 8192 under 16 GiB, 16384 under 32 GiB, else 32768 (the KV cache of a
    1.5B model at 32768 tokens is under 1 GiB; prompts that long take minutes on a CPU)."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: assume a small laptop
            memory_bytes = 8 * 1024**3
    gib = memory_bytes / 1024**3
    for limit, tokens in ((8, 4096), (16, 8192), (32, 16384)):
        if gib < limit:
            return tokens
    return 32768


class LLMConfig(_Section):
    """``[llm]``: the OpenAI-compatible endpoint, model, retries (seconds) and
    concurrency; ``context_tokens`` is the model's context window in tokens.

    With no ``base_url`` and no ``api_key`` (or ``provider = "local"``) podpost runs a GGUF
    model itself through llama.cpp (:mod:`pipeline.llm.local`): ``local_model`` when set,
    else the pinned ``local_repo``/``local_revision``/``local_file`` (checked against
    ``local_sha256``), downloaded once into ``local_cache``. ``model``, ``context_tokens``
    and ``max_concurrency`` then default to the file's name, the machine's memory
    (:func:`machine_context_tokens`) and 1."""

    # auto: the endpoint when base_url or api_key is set, else the local model;
    # local: always the local model; endpoint: always the endpoint (no key is an error)
    provider: Literal["auto", "local", "endpoint"] = "auto"
    # A GGUF file you already have; None: the pinned default below, downloaded on first use
    local_model: Path | None = None
    # The default local model, pinned (docs/local-model.md says why this one): Qwen2.5 1.5B
    # Instruct, Apache-2.0, Q4_K_M quantization, 986 MB
    local_repo: str = "bartowski/Qwen2.5-1.5B-Instruct-GGUF"
    local_revision: str = "85553858e3522ce5b531285b2202bdb40fab1624"
    local_file: str = "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    local_sha256: str = "50961d9b7d3b89e46be230528fc66d38bbdda8ac3748323dd34f129a714124fc"
    local_cache: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("podpost")) / "models"
    )
    local_threads: int | None = Field(default=None, ge=1)  # None: the CPUs podpost may use
    backend: str = "openai"
    base_url: str | None = None
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    temperature: float = 0.2
    timeout: float = 120.0
    # Extra attempts after a 429/5xx/timeout (6 requests per call at most). The first call
    # that still fails ends the run, so a dead endpoint costs a run <= 6 requests.
    max_retries: int = 5
    # Requests in a row (a run's, over all threads) that give no usable translation before
    # the run stops asking the model (0: never). 40 turns of nothing valid cost <= 20.
    max_invalid_requests: int = Field(default=10, ge=0)
    max_concurrency: int = Field(default=4, ge=1)
    context_tokens: int = 32000
    retry_initial_wait: float = 1.0  # seconds; doubles per retry, with jitter
    retry_max_wait: float = 60.0  # cap, also for a server's Retry-After

    @property
    def is_local(self) -> bool:
        """Whether requests go to the model podpost runs itself (see the class docstring)."""
        if self.provider != "auto":
            return self.provider == "local"
        return not self.base_url and not self.api_key

    @property
    def local_file_name(self) -> str:
        """The local model's file name: ``local_model``'s, else the pinned ``local_file``."""
        return self.local_model.name if self.local_model else self.local_file

    @model_validator(mode="after")
    def _local_defaults(self) -> LLMConfig:
        if self.is_local:
            if "model" not in self.model_fields_set:
                self.model = f"local/{self.local_file_name}"
            if "context_tokens" not in self.model_fields_set:
                self.context_tokens = machine_context_tokens()
            if "max_concurrency" not in self.model_fields_set:
                self.max_concurrency = 1  # one model in one process answers one at a time
        return self


class EditorialConfig(_Section):
    """``[editorial]``: target language, chunk sizes (tokens) and the front
    matter's allowed categories and areas."""

    target_language: LanguageTag = "zh-CN"
    chunk_min_tokens: int = 1500
    chunk_max_tokens: int = 3000
    context_turns: int = 3
    max_unit_tokens: int = 700  # longer turns are translated in pieces, one paragraph each
    categories: list[str] = Field(
        default_factory=lambda: ["ai-ml", "business-strategy", "science", "society-culture"]
    )
    areas: list[str] = Field(
        default_factory=lambda: ["tech-engineering", "business", "research", "policy"]
    )


class PostConfig(_Section):
    """``[post]``: the body template and the fixed front matter values."""

    template: Path | None = None  # a user's own Jinja2 body template replaces the built-in one
    layout: str = "post.njk"
    status: str = "evergreen"
    series: str = ""
    project: list[str] = Field(default_factory=list)


Until = Literal["turns", "draft"]


class RunConfig(_Section):
    """``[run]``: where ``podpost run`` and ``ingest`` stop. ``until = "turns"`` stops after
    the speaker turns, as a speakers draft for the editor to confirm; ``podpost resume``
    then translates once, with the confirmed speakers (``pipeline.review.speakers``)."""

    until: Until = "draft"


SiteGeneratorName = Literal["eleventy", "jekyll", "hugo", "astro"]
SITE_GENERATORS: tuple[str, ...] = typing.get_args(SiteGeneratorName)  # review.sites has each


class SiteConfig(_Section):
    """``[site]``: the static site generator ``podpost approve`` publishes for (its file
    names and front matter conventions: pipeline.review.sites)."""

    generator: SiteGeneratorName = "eleventy"


class StateConfig(_Section):
    """``[state]``: where podpost keeps its own state (the ledger, run records, review
    records, episode locks): a SQLAlchemy URL, e.g.
    ``postgresql+psycopg://user:pass@host/podpost`` for several machines
    (``PODPOST_STATE__URL``). None: SQLite in the data folder,
    ``<data_dir>/state.sqlite3`` (see docs/state.md)."""

    url: str | None = None
    # An episode's lock is a lease: its holder renews it every `heartbeat` seconds, and a
    # holder that died (a killed worker, a lost machine) loses it `lease_ttl` seconds after
    # its last renewal (at once when it was a process of the same machine).
    lease_ttl: float = Field(default=60.0, gt=0)
    heartbeat: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _beats_within_ttl(self) -> StateConfig:
        if self.heartbeat >= self.lease_ttl:
            raise ValueError("[state] heartbeat must be shorter than lease_ttl")
        return self


class StorageConfig(_Section):
    """``[storage]``: where episodes and drafts are kept (``docs/storage.md``).

    ``url`` unset (the default): in the data folder, which is then also the working
    folder, so nothing is copied. ``url = "s3://bucket/podpost"`` (any fsspec URL): on
    object storage; a worker works in ``scratch_dir`` (default: under the user cache,
    one folder per ``url``), pulls what a step needs and uploads what it made.
    ``endpoint_url`` points s3 at an S3-compatible store; credentials come the usual way
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ...)."""

    url: str | None = None
    endpoint_url: str | None = None
    scratch_dir: Path | None = None
    # more fsspec options for the store (e.g. {region_name = "eu-west-1"} for s3)
    options: dict[str, Any] = Field(default_factory=dict)


class Config(_Section):
    """The whole configuration: top-level folders and one model per section.

    Built by :func:`load_config` from the file, ``PODPOST_*`` variables and flags;
    unknown keys are a ``ValidationError`` (reported as :class:`ConfigError`)."""

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("podpost")))
    drafts_dir: Path | None = None  # default: <data_dir>/drafts
    site_dir: Path | None = None  # the site's content folder for `podpost approve`
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    asr: AsrConfig = Field(default_factory=AsrConfig)
    diarize: DiarizeConfig = Field(default_factory=DiarizeConfig)
    turns: TurnsConfig = Field(default_factory=TurnsConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    editorial: EditorialConfig = Field(default_factory=EditorialConfig)
    post: PostConfig = Field(default_factory=PostConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    site: SiteConfig = Field(default_factory=SiteConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @model_validator(mode="after")
    def _drafts_on_storage(self) -> Config:
        if self.storage.url and self.drafts_dir is not None:
            raise ValueError(
                "drafts_dir cannot be set with [storage] url: drafts are kept on the "
                "storage, under drafts/"
            )
        return self

    @property
    def work_dir(self) -> Path:
        """The local folder that holds episodes and drafts while podpost works on them:
        ``data_dir`` with local storage, else the scratch folder of ``[storage] url``."""
        if not self.storage.url:
            return self.data_dir
        if self.storage.scratch_dir is not None:
            return self.storage.scratch_dir
        tag = hashlib.sha256(self.storage.url.encode("utf-8")).hexdigest()[:12]
        return Path(platformdirs.user_cache_dir("podpost")) / "scratch" / tag

    @property
    def episodes_dir(self) -> Path:
        """``<work_dir>/episodes``: one folder per episode id."""
        return self.work_dir / EPISODES_FOLDER

    @property
    def drafts_path(self) -> Path:
        """Where drafts are written: ``drafts_dir``, else ``<work_dir>/drafts``."""
        return self.drafts_dir or self.work_dir / DRAFTS_FOLDER


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts merge key by key; anything else in ``extra`` replaces what ``base`` has."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _field_path(parts: list[str]) -> bool:
    """Whether ``["llm", "model"]`` names a setting: each part a field of the model above
    it, or anything below a dict-valued field (``turns.speaker_map.SPEAKER_0``)."""
    node: Any = Config
    for part in parts:
        if typing.get_origin(node) is dict:
            return True
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return False
        field = node.model_fields.get(part)
        if field is None:
            return False
        node = field.annotation
    return True


def _setting_names(model: type[BaseModel] = Config, prefix: str = ENV_PREFIX) -> list[str]:
    """Every ``PODPOST_*`` name that sets something: sections and their fields."""
    names = []
    for name, field in model.model_fields.items():
        var = f"{prefix}{name.upper()}"
        names.append(var)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _setting_names(annotation, f"{var}__")
    return names


def _is_setting(name: str) -> bool:
    return name.startswith(ENV_PREFIX) and _field_path(name[len(ENV_PREFIX) :].lower().split("__"))


def unknown_env(env: Mapping[str, str]) -> list[str]:
    """One warning line per ``PODPOST_*`` variable that is not a setting, naming the nearest
    valid name when one is close (``PODPOST_LLM_MODEL`` -> ``PODPOST_LLM__MODEL``)."""
    known = [*_setting_names(), *sorted(ENTRY_VARS)]
    lines = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in ENTRY_VARS or _is_setting(name):
            continue
        near = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        guess = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"{name} is not a podpost setting and is ignored{guess}")
    return lines


def debug_requested(env: Mapping[str, str]) -> bool:
    """``PODPOST_DEBUG`` as a boolean (1, true, yes, on); anything else is off."""
    return env.get(DEBUG_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``PODPOST_A__B=v`` -> ``{"a": {"b": "v"}}``; pydantic converts the strings. Names
    that are not settings are left out (:func:`unknown_env` warns about them)."""
    values: dict[str, Any] = {}
    for name, raw in env.items():
        if name in ENTRY_VARS or not _is_setting(name):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        value: Any = raw
        if raw.startswith("[") or raw.startswith("{"):
            import json

            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        node[path[-1]] = value
    return values


def _openai_fallbacks(env: Mapping[str, str]) -> dict[str, Any]:
    llm = {}
    if env.get("OPENAI_BASE_URL"):
        llm["base_url"] = env["OPENAI_BASE_URL"]
    if env.get("OPENAI_API_KEY"):
        llm["api_key"] = env["OPENAI_API_KEY"]
    return {"llm": llm} if llm else {}


def _config_file(explicit: Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} does not exist",
                hint="pass an existing TOML file to --config",
            )
        return explicit
    if env.get(CONFIG_VAR):
        return _config_file(Path(env[CONFIG_VAR]), {}, cwd)
    local = cwd / CONFIG_FILE_NAME
    if local.is_file():
        return local
    user = Path(platformdirs.user_config_dir("podpost")) / CONFIG_FILE_NAME
    return user if user.is_file() else None


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flags left at their default (None) must not override the file or the environment."""
    return {
        key: _drop_none(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
        if value is not None
    }


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Build the one Config: defaults < TOML file < environment < ``overrides`` (flags)."""
    env = {} if env is None else env
    cwd = cwd or Path.cwd()
    data: dict[str, Any] = {}
    source = "defaults"
    file = _config_file(path, env, cwd)
    if file is not None:
        source = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config {file}: {e}", hint="fix the TOML") from e
    data = deep_merge(data, _openai_fallbacks(env))
    data = deep_merge(data, _from_env(env))
    data = deep_merge(data, _drop_none(overrides or {}))
    return _validate(data, f"from {source}, PODPOST_* or flags")


def with_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """``config`` with ``overrides`` (config values, as :func:`load_config` takes flags) on
    top: a rerun's Config once the settings its episode was made with are known. Raises
    :class:`ConfigError` when a value is not valid (a setting recorded by an older podpost)."""
    data = deep_merge(config.model_dump(), _drop_none(overrides))
    return _validate(data, "from the flags or the settings the episode was made with")


def _validate(data: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid setting {where}: {first['msg']} ({origin})",
            hint="fix or remove that setting",
        ) from e
