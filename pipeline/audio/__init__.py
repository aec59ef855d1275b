"""One home for audio, below the stages: the episode decoded once to 16 kHz PCM on disk
(:mod:`pipeline.audio.pcm`) and voice activity detection (:mod:`pipeline.audio.vad`), shared
by transcription and diarization."""
