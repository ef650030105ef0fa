"""Alembic revisions, numbered ``NNNN_name.py`` with ``revision = "NNNN"``; never edit a shipped one."""
