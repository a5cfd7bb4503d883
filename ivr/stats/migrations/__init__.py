"""Alembic migrations of the statistics tables (``ivr stats migrate``)."""
