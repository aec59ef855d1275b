"""Fetch stage: an episode source to ``episode.json`` and its audio.

Sources: a yt-dlp URL, a podcast feed item, a direct media URL or a local file.
"""
