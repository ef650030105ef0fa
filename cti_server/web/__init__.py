"""The agent desktop and the supervisor wallboard: plain HTML, CSS and ES modules, no build step.

The files live in ``static/`` (package data) and are served by :mod:`cti_server.api.pages`:
``/desktop/`` and ``/wallboard/`` are the two pages, ``/static/`` their shared CSS and JS.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
