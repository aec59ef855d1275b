"""Turns stage: a Transcript to named speaker Turns (diarization, segmentation, naming)."""
