"""Alembic revisions: ``NNNN_name.py`` with ``revision = "NNNN"``; never edit a shipped one."""
