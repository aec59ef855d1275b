"""Fetch stage: an episode source to ``episode.json`` and its audio.

Sources: a yt-dlp URL, a podcast feed item, a direct media URL or a local file. The entry
point is :func:`pipeline.fetch.core.fetch_episode`; :func:`pipeline.fetch.feeds.list_feed`
lists what a feed or playlist offers. Modules, each readable on its own: ``core`` (which
kind of source), ``urls`` (URL safety, passwords), ``http`` (the one guarded client every
byte goes through: checked hops, pinned addresses, caps, retries), ``media`` (ffprobe on
local files or piped bytes, the download, limits), ``local``, ``direct`` (media URLs and
feed items), ``feeds`` (RSS/Atom through feedparser), ``ytdlp``, ``ytdlp_net`` (yt-dlp's
requests through ``http``), ``episodes`` (ids and folders).
"""
