"""Alembic migrations of fsworker's schema (a package so that setup.py ships it like any other)."""
