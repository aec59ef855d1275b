"""Runs: run state, the ingestion ledger and the orchestration of the steps."""
