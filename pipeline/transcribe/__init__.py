"""Transcribe stage: an episode's audio or captions to a Transcript.

The ASR backends, voice activity detection and the caption formats live here.
"""
