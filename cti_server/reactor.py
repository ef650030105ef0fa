"""Reactor installation: Twisted on asyncio, done first in every entry point (DESIGN.md §6).

Libraries such as prometheus_client.twisted install the default reactor on import, so this
module must be imported, and ``install()`` called, before anything else touches Twisted.
"""

from __future__ import annotations

import asyncio
from typing import Any


def install() -> Any:
    """Install the asyncio reactor if no reactor is installed yet; return the reactor."""
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        asyncioreactor.install(loop)
    from twisted.internet import reactor

    return reactor
