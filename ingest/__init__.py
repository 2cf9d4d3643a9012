"""Batch jobs that load files into the store: world folders (catalogue, holders, experience, interactions)."""

import parcours  # noqa: F401
