"""Alembic revisions, one per schema change; Alembic itself skips this file."""
