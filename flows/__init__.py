"""Prefect flows: one episode end to end (``flows.episode``), feeds in batches (``flows.ingest``).

Import :mod:`flows.prefect_setup` and call ``quiet_defaults(os.environ)`` before anything
imports Prefect; the CLI does.
"""
