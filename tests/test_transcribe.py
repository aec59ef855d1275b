"""``podpost transcribe`` with the real whisper code and real ``tiny.en`` weights.

The speech is espeak-ng reading a known script, so besides what whisper was given to decode,
the timings, the structure and the filters, these tests check the words (a word error rate
bound against the script), the language and that silence gives no text. The random
checkpoint (:mod:`tests.fixtures.whisper_model`) stays only where a test needs what real
tiny.en cannot do: a decoder that loops.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import store
from pipeline.audio.pcm import decode_pcm
from pipeline.audio.vad import speech_regions
from pipeline.config import Config
from pipeline.fetch.core import fetch_episode
from pipeline.models import Episode, Transcript
from pipeline.transcribe.step import transcribe_episode
from pipeline.transcribe.whisper_backend import WhisperBackend, initial_prompt
from tests.cli_helpers import cli
from tests.fixtures.asr_truth import words_of
from tests.fixtures.media import VOICES

pytestmark = pytest.mark.slow

SENTENCES = [
    "Welcome to the show, today we talk about small models.",
    "Thanks for having me, it is good to be here.",
    "Let us start with how you got into this field.",
    "I was a physicist first, then I moved to software.",
    "That is a common path, many people did the same.",
    "Yes, and the tools changed a lot since then.",
]


@pytest.fixture
def config_path(tmp_path: Path, real_whisper_checkpoint: Path) -> Path:
    path = tmp_path / "podpost.toml"
    path.write_text(f'[asr]\nmodel = "{real_whisper_checkpoint}"\n[fetch]\nprogress = false\n')
    return path


def error_rate(script: list[str], transcript: Transcript) -> float:
    """Word error rate of ``transcript`` against the sentences it was synthesised from."""
    import jiwer

    truth = " ".join(words_of(" ".join(script)))
    return float(jiwer.wer(truth, " ".join(words_of(transcript.text)) or "<nothing>"))


# Three sentences (about 10 s of speech): each second of speech costs about half a second
# of real-weights decoding on two cores.
SCRIPT = SENTENCES[:3]


def conversation(audio, **kwargs) -> Path:
    lines = [(VOICES[i % len(VOICES)], text) for i, text in enumerate(SCRIPT)]
    return audio.speech(lines, "mp3", **kwargs)


def greedy(checkpoint: Path) -> dict:
    """``[asr]`` for tests of what is decoded and when: greedy (half beam search's time)."""
    return {"model": str(checkpoint), "beam_size": 1}


def test_sixty_seconds_end_to_end_through_the_cli(tmp_path, audio, config_path, capsys) -> None:
    media = tmp_path / "episode.mp3"
    source = conversation(audio, duration=60, metadata={"album": "Small Talk", "language": "eng"})
    media.write_bytes(source.read_bytes())
    argv = ["--config", str(config_path), "--data-dir", str(tmp_path / "data"), "transcribe"]
    code, out, err = cli([*argv, str(media)], capsys)
    assert code == 0, err
    path = Path(out.strip().rsplit(": ", 1)[1])
    transcript = store.load(path, Transcript)
    assert out == f"{len(transcript.segments)} segments (whisper, en): {path}\n"
    assert transcript.backend == "whisper" and transcript.language == "en"
    assert transcript.model == str(config_path.read_text().split('"')[1])
    # the script's words, and none invented in the 50 s of silence after them
    assert error_rate(SCRIPT, transcript) < 0.2, transcript.text
    regions = speech_regions(decode_pcm(media, tmp_path / "pcm"))
    previous_end = 0.0
    for segment in transcript.segments:
        assert 0 <= segment.start < segment.end <= 60
        assert segment.start >= previous_end - 1e-6  # ordered, not overlapping
        previous_end = segment.end
        assert any(a <= segment.start and segment.end <= b for a, b in regions)
        assert segment.words and segment.text == " ".join(w.text for w in segment.words)
        for word in segment.words:
            assert segment.start <= word.start <= word.end <= segment.end
    # the episode folder works as input too, and gives the same result
    code, out2, _ = cli([*argv, str(path.parent)], capsys)
    assert code == 0 and out2 == out
    assert store.load(path, Transcript) == transcript


def test_the_episode_language_reaches_a_multilingual_model(tmp_path, audio) -> None:
    """Metadata that says German: the decoder is told ``de``, not left to detect a language
    (a multilingual model stands in: tiny.en is English-only, whatever it is told)."""
    source = audio.speech(SENTENCES[0], "mp3", metadata={"language": "deu"})
    config = Config(data_dir=tmp_path)
    episode = fetch_episode(str(source), config)
    asked: list[str | None] = []

    class Multilingual(WhisperBackend):
        english_only = False

        def _decode(self, audio, timeline, language, prompt, *, rescue):
            asked.append(language)
            return {"segments": [], "language": None}

    backend = Multilingual(config)
    transcript = transcribe_episode(
        episode, store.episode_dir(config, episode.id), config, backend=backend
    )
    assert episode.language == "de" and transcript.language == "de"
    assert asked and set(asked) == {"de"}


def test_the_names_prompt_reaches_the_first_window_unless_turned_off(tmp_path, audio) -> None:
    """``[asr] prompt_names``: on (the default), the first window gets the show's name; off,
    no prompt at all."""
    source = audio.speech(SENTENCES[0], "mp3", metadata={"album": "Small Talk"})

    class Listening(WhisperBackend):
        english_only = True
        asked: list[str | None]

        def _decode(self, audio, timeline, language, prompt, *, rescue):
            self.asked.append(prompt)
            return {"segments": [], "language": "en"}

    prompts = {}
    for names in (False, True):
        asr = {} if names else {"prompt_names": False}
        config = Config(data_dir=tmp_path / str(names), asr=asr)
        episode = fetch_episode(str(source), config)
        backend = Listening(config)
        backend.asked = []
        transcribe_episode(episode, store.episode_dir(config, episode.id), config, backend=backend)
        prompts[names] = backend.asked
    # the first window, then the rescue pass (no words came back), which never has one
    assert prompts == {False: [None, None], True: ["Small Talk.", None]}


def _own_model(path: Path):
    """A model of our own: hooks on it must not reach the process-wide cached one."""
    import whisper

    return whisper.load_model(str(path), device="cpu")


class _Stop(Exception):
    pass


def _encoder_inputs(backend: WhisperBackend, stop_after: int | None = None) -> list[int]:
    """Per encoder call, how many of its 3000 mel frames hold audio (the rest is padding)."""
    frames: list[int] = []

    def hook(module, args) -> None:
        if stop_after is not None and len(frames) >= stop_after:
            raise _Stop
        mel = args[0][0]
        frames.append(int((mel.abs().sum(dim=0) != 0).sum()))

    backend.model.encoder.register_forward_pre_hook(hook)
    return frames


def test_vad_keeps_the_silences_out_of_decoding(tmp_path, audio, real_whisper_checkpoint):
    source = conversation(audio, lead=30, tail=30)
    total = audio.duration(source)
    speech = (30.0, total - 30.0)
    config = Config(data_dir=tmp_path / "data", asr=greedy(real_whisper_checkpoint))
    episode = fetch_episode(str(source), config)
    folder = store.episode_dir(config, episode.id)

    backend = WhisperBackend(config, model=_own_model(real_whisper_checkpoint))
    frames = _encoder_inputs(backend)
    transcript = transcribe_episode(episode, folder, config, backend=backend)
    # whisper was given one clip: the speech (plus VAD padding), never the silences
    ((clip_start, clip_end),) = backend.decoded_clips
    assert speech[0] - 0.5 <= clip_start <= speech[0] + 0.3
    assert speech[1] - 0.3 <= clip_end <= speech[1] + 0.5
    assert frames and max(frames) <= round((clip_end - clip_start) * 100) + 1
    for segment in transcript.segments:
        assert clip_start <= segment.start < segment.end <= clip_end
    assert transcript.language == "en"
    assert error_rate(SCRIPT, transcript) < 0.2, transcript.text
    first_word = transcript.segments[0].words[0]  # episode time, not time in the clip
    assert first_word.text == "Welcome" and clip_start <= first_word.start <= speech[0] + 0.5

    # without VAD the same decoder is fed a full 30-second window of silence first
    # (stopped right there: the rest is what the first part checked)
    plain = Config(data_dir=tmp_path / "data", asr={**config.asr.model_dump(), "vad": False})
    backend = WhisperBackend(plain, model=_own_model(real_whisper_checkpoint))
    frames = _encoder_inputs(backend, stop_after=1)
    with pytest.raises(_Stop):
        transcribe_episode(episode, folder, plain, backend=backend)
    assert backend.decoded_clips == [(0.0, pytest.approx(total, abs=0.2))]
    assert frames == [3000]


def test_speech_around_a_pause_is_joined_into_one_window(tmp_path, audio, real_whisper_checkpoint):
    """Two stretches of speech 12 s apart: whisper hears them end to end in one 30-second
    window (not one window per stretch), and the times come back on the episode's clock."""
    lines = [(VOICES[0], SENTENCES[0]), (VOICES[1], SENTENCES[2])]
    source = audio.speech(lines, "mp3", gap=12.0)
    config = Config(data_dir=tmp_path / "data", asr=greedy(real_whisper_checkpoint))
    episode = fetch_episode(str(source), config)
    backend = WhisperBackend(config, model=_own_model(real_whisper_checkpoint))
    frames = _encoder_inputs(backend)
    transcript = transcribe_episode(
        episode, store.episode_dir(config, episode.id), config, backend=backend
    )
    first, second = backend.decoded_clips
    assert second[0] - first[1] > 10.0  # the pause stayed out
    speech = (first[1] - first[0]) + (second[1] - second[0])
    assert speech < 30.0
    # the first window holds both stretches (whisper may then look again at the last
    # frames after the last word it timed; the encoder also runs again to time words)
    assert abs(frames[0] - speech * 100) <= 2 and max(frames) <= frames[0]
    assert error_rate([SENTENCES[0], SENTENCES[2]], transcript) < 0.2, transcript.text
    for segment in transcript.segments:
        assert any(a <= segment.start < b for a, b in backend.decoded_clips)
        assert any(a < segment.end <= b for a, b in backend.decoded_clips)
        for word in segment.words:
            assert any(a <= word.start <= b for a, b in backend.decoded_clips)
    # the second stretch's first word at its time in the episode, after the pause
    words = [w for s in transcript.segments for w in s.words]
    after = next(w for w in words if w.start >= first[1])
    assert after.text == "Let" and second[0] <= after.start <= second[0] + 1.0


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_vad_engines_find_the_speech(engine, tmp_path, audio) -> None:
    source = audio.speech("One short sentence in the middle of nothing.", lead=5, tail=5)
    speech = (5.0, audio.duration(source) - 5.0)
    ((start, end),) = speech_regions(decode_pcm(source, tmp_path / "pcm"), engine)
    assert speech[0] - 0.5 <= start <= speech[0] + 0.3
    assert speech[1] - 0.3 <= end <= speech[1] + 0.5


def test_a_soft_first_word_starts_its_stretch(tmp_path) -> None:
    """Silero hears a whispered "Hello." only 0.7 s late, with the loud sentence after it;
    the stretch (and its onset) is followed back to where the voice begins."""
    from pipeline.audio.vad import PAD, _silero_block, speech_spans
    from tests.fixtures.interview import whispered_opening

    source, (hello, sentence) = whispered_opening(tmp_path)
    pcm = decode_pcm(source, tmp_path / "pcm")
    silero_start = _silero_block(pcm.read(), 0.5)[0][0]
    assert silero_start > hello.end > silero_start - PAD  # the padding alone misses "Hel"
    (stretch,) = speech_spans(pcm)
    assert hello.start - 0.05 <= stretch.onset <= hello.start + 0.1
    assert stretch.start == pytest.approx(stretch.onset - PAD, abs=0.01)
    assert sentence.start < stretch.end


def test_silent_file_gives_an_empty_transcript(tmp_path, audio, config_path, capsys) -> None:
    argv = ["--config", str(config_path), "--data-dir", str(tmp_path / "data"), "transcribe"]
    silence = audio.silence(8.0)
    code, out, err = cli([*argv, str(silence), "--language", "en"], capsys)
    assert code == 0
    path = Path(out.strip().rsplit(": ", 1)[1])
    assert out == f"0 segments (whisper, en): {path}\n"
    assert err == f"warning: no speech found in {silence.stem}; the transcript is empty\n"
    assert store.load(path, Transcript).segments == []


def test_repetition_loops_are_dropped(tmp_path, audio) -> None:
    """A checkpoint that loops on one token: whisper returns the loop, we keep nothing."""
    # random weights: real tiny.en does not loop on a few seconds of clean speech
    import whisper

    from tests.fixtures.whisper_model import build_checkpoint

    looping = build_checkpoint(tmp_path / "loop.pt", position_scale=1.0)
    source = audio.speech(SENTENCES[0])
    raw = whisper.transcribe(whisper.load_model(str(looping)), str(source), language="en",
                             temperature=0.0, fp16=False)  # fmt: skip
    assert any(s["compression_ratio"] > 2.4 for s in raw["segments"])
    config = Config(data_dir=tmp_path, asr={"model": str(looping), "temperatures": [0.0],
                                            "language": "en"})  # fmt: skip
    episode = fetch_episode(str(source), config)
    transcript = transcribe_episode(episode, store.episode_dir(config, episode.id), config)
    assert transcript.segments == []


def test_auto_prefers_human_captions_else_whisper(tmp_path, audio, config_path, capsys) -> None:
    argv = ["--config", str(config_path), "--data-dir", str(tmp_path / "data"), "transcribe",
            "--backend", "auto", "--language", "en"]  # fmt: skip
    bare = tmp_path / "bare.wav"
    bare.write_bytes(audio.speech(SENTENCES[1]).read_bytes())
    code, out, _ = cli([*argv, str(bare)], capsys)
    assert code == 0 and "(whisper, en)" in out
    transcript = store.load(Path(out.strip().rsplit(": ", 1)[1]), Transcript)
    assert error_rate([SENTENCES[1]], transcript) < 0.2, transcript.text
    captioned = tmp_path / "talk.wav"
    captioned.write_bytes(audio.speech(SENTENCES[2]).read_bytes())
    (tmp_path / "talk.vtt").write_text("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nThanks.\n")
    code, out, _ = cli([*argv, str(captioned)], capsys)
    assert code == 0 and "1 segments (captions, en)" in out


def test_initial_prompt_names_the_show_and_people() -> None:
    episode = Episode(id="x", source="s", kind="local", url="u", show="Small Talk",
                      uploader="Jane Host", guests=["Sam Guest", "jane host"])  # fmt: skip
    assert initial_prompt(episode) == "Small Talk, with Jane Host, Sam Guest."
    assert initial_prompt(Episode(id="x", source="s", kind="local", url="u")) is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--backend", "nope"], 2,
         "error: unknown ASR backend 'nope'; set asr.backend to one of: auto, captions, "
         "faster-whisper, whisper"),
        (["--model", "/no/such/model.pt"], 2,
         "error: whisper checkpoint /no/such/model.pt does not exist; pass an existing .pt file"),
        (["--model", "enormous"], 2, "error: unknown whisper model 'enormous'; use one of"),
    ],
)  # fmt: skip
def test_transcribe_errors(args, code, message, tmp_path, audio, capsys) -> None:
    media = tmp_path / "x.wav"
    media.write_bytes(audio.speech("Hello.").read_bytes())
    got, _out, err = cli(["--data-dir", str(tmp_path), "transcribe", str(media), *args], capsys)
    assert got == code and err.startswith(message) and err.count("\n") == 1


def test_not_an_episode_folder(tmp_path, capsys) -> None:
    got, _, err = cli(["--data-dir", str(tmp_path), "transcribe", str(tmp_path)], capsys)
    assert got == 2
    assert err == f"error: {tmp_path} is a folder, not a media file; pass a file\n"


# --- a checkpoint's alignment heads, in either form ------------------------------------------


def _with_heads(checkpoint: Path, heads, target: Path) -> Path:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["alignment_heads"] = heads
    torch.save(state, target)
    return target


def test_whisper_dump_and_pairs_give_the_same_heads(ct2_whisper_dir) -> None:
    """tiny.en's heads as whisper lists them (its base85 dump) and as the CTranslate2
    conversion stores them ([layer, head] pairs) are the same mask."""
    import json

    import whisper

    from pipeline.transcribe.whisper_backend import alignment_heads_mask

    pairs = json.loads((ct2_whisper_dir / "config.json").read_text())["alignment_heads"]
    dump = whisper._ALIGNMENT_HEADS["tiny.en"]
    from_pairs = alignment_heads_mask(pairs, 4, 6)
    assert from_pairs.sum() == len(pairs) == 8
    assert (alignment_heads_mask(dump, 4, 6) == from_pairs).all()
    assert (alignment_heads_mask(dump.decode(), 4, 6) == from_pairs).all()
    with pytest.raises(ValueError, match="the model has 2 x 6"):
        alignment_heads_mask(dump, 2, 6)
    with pytest.raises(ValueError, match=r"head \[4, 0\] is outside 4 x 6"):
        alignment_heads_mask([[4, 0]], 4, 6)


@pytest.mark.parametrize("form", ["pairs", "dump", "dump as text"])
def test_a_checkpoint_loads_with_alignment_heads_in_either_form(
    form, whisper_checkpoint, tmp_path
) -> None:
    import base64
    import gzip

    import numpy as np

    from pipeline.transcribe.whisper_backend import load_model

    dump = base64.b85encode(gzip.compress(np.array([[False, True]]).tobytes()))
    heads = {"pairs": [[0, 1]], "dump": dump, "dump as text": dump.decode()}[form]
    path = _with_heads(whisper_checkpoint, heads, tmp_path / f"{form}.pt")
    model = load_model(str(path), "cpu")
    assert model.alignment_heads.to_dense().tolist() == [[False, True]]


def test_unreadable_alignment_heads_are_a_warning(whisper_checkpoint, tmp_path, caplog) -> None:
    from pipeline.transcribe.whisper_backend import load_model

    path = _with_heads(whisper_checkpoint, "not whisper's dump", tmp_path / "odd.pt")
    with caplog.at_level("WARNING"):
        model = load_model(str(path), "cpu")
    # whisper's default for a model it does not know: every head of the last half of the
    # decoder's layers (here its only layer)
    assert model.alignment_heads.to_dense().tolist() == [[True, True]]
    assert [r.getMessage() for r in caplog.records] == [
        "odd.pt: alignment_heads unreadable (not whisper's base85 dump (bad base85 character "
        "at position 3)); word times use whisper's default heads"
    ]
