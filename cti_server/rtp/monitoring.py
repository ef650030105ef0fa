"""Live monitoring in the media core: who hears a mix, and the mix made in the 20 ms tick.

A supervisor's leg watches an agent's leg and whoever the agent is bridged to. Listen: the
supervisor hears both, the two parties still talk over the direct forwarding. Whisper: the
agent hears the customer and the supervisor mixed, the customer still hears only the agent.
Barge: each of the three hears the other two. A leg heard in a mix gets a ``MixTap``
(mixer.py) on its route; a leg that hears a mix gets no direct forward, its audio comes from
the tick. Calls nobody monitors keep the per-packet fast path untouched. A mixin of
``bridge.MediaCore``, whose legs, routes and packet builder it uses.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cti_server.rtp.mixer import MAX_TAP, JitterBuffer, MixTap, mix_tick, who_hears
from cti_server.rtp.route import MediaError

if TYPE_CHECKING:
    from cti_server.rtp.bridge import MediaLeg

MONITOR_MODES = ("listen", "whisper", "barge")
_MIX: Hashable = "mix"


@dataclass(slots=True)
class Monitor:
    """A supervisor's leg watching ``target`` (an agent's leg) in ``mode``."""

    target: str
    mode: str


class MonitorMixing:
    legs: dict[str, MediaLeg]
    monitors: dict[str, Monitor]  # supervisor leg -> what it watches
    _hears: dict[str, frozenset[str]]  # listener -> the sources mixed for it

    if TYPE_CHECKING:

        def _leg(self, leg_id: str) -> MediaLeg: ...
        def _rebuild(self, leg: MediaLeg) -> None: ...
        def _rebuild_peer(self, leg: MediaLeg) -> None: ...
        def _packet(
            self, leg: MediaLeg, payload: bytes, now: float, source: Hashable = ...
        ) -> bytes: ...

    def monitor(self, leg_id: str, target: str, mode: str) -> None:
        """``leg_id`` (a supervisor) watches ``target`` (an agent) in ``mode``; again with
        another mode switches it (listen -> whisper -> barge) without a gap."""
        if mode not in MONITOR_MODES:
            raise MediaError(f"monitor mode {mode!r} is not one of {', '.join(MONITOR_MODES)}")
        self._leg(leg_id)
        self._leg(target)
        watched = {m.target for sup, m in self.monitors.items() if sup != leg_id}
        if leg_id == target or target in self.monitors or target in watched:
            raise MediaError(f"leg {leg_id} cannot monitor leg {target}")
        self.monitors[leg_id] = Monitor(target, mode)
        self._remix()

    def unmonitor(self, leg_id: str) -> None:
        if self.monitors.pop(leg_id, None) is not None:
            self._remix()

    def hears(self, leg_id: str) -> frozenset[str]:
        """The legs mixed for ``leg_id`` (empty: it hears its peer directly, or nothing)."""
        return self._hears.get(leg_id, frozenset())

    def _remix(self) -> None:
        """Recompute who hears a mix, then the taps and routes of every leg concerned."""
        for sup, mon in list(self.monitors.items()):
            if sup not in self.legs or mon.target not in self.legs:
                del self.monitors[sup]  # a leg closed: the monitor ends with it
        watched = [(sup, mon.target, mon.mode) for sup, mon in self.monitors.items()]
        peers = {t: self.legs[t].peer for _s, t, _m in watched}
        hears = who_hears(watched, {t: p for t, p in peers.items() if p in self.legs})
        old, self._hears = self._hears, hears
        sources = {s for group in hears.values() for s in group}
        concerned = set(old) | set(hears) | sources | {s for g in old.values() for s in g}
        for leg_id in concerned:
            leg = self.legs.get(leg_id)
            if leg is None:
                continue
            self._capture(leg, leg_id in sources)
            self._rebuild(leg)
            self._rebuild_peer(leg)

    def _capture(self, leg: MediaLeg, on: bool) -> None:
        """Give the leg's route a MixTap (keeping what the recorder has not drained yet)."""
        route = leg.route
        if on and not isinstance(route.tap, MixTap):
            route.tap = MixTap(route.tap)
        elif not on and isinstance(route.tap, MixTap):
            route.tap = list(route.tap) if leg.tapped else None

    def _mix(self, now: float, prompted: list[str]) -> list[tuple[int, bytes, tuple[str, int]]]:
        buffers: dict[str, JitterBuffer] = {}
        codecs: dict[str, str] = {}
        for group in self._hears.values():
            for source in group:
                leg = self.legs[source]
                tap = leg.route.tap
                if isinstance(tap, MixTap):
                    buffers[source] = tap.buffer
                    if len(tap) > MAX_TAP:  # nobody records this leg: keep the tap small
                        del tap[:-MAX_TAP]
                codecs[source] = leg.codec
        for listener in self._hears:
            codecs[listener] = self.legs[listener].codec
        out: list[tuple[int, bytes, tuple[str, int]]] = []
        busy = set(prompted)
        for listener, payload in mix_tick(buffers, codecs, self._hears).items():
            leg = self.legs[listener]
            remote = leg.route.remote
            if listener in busy or not leg.sending or remote is None:
                continue  # a prompt (music on hold) wins over the mix
            out.append((leg.port, self._packet(leg, payload, now, _MIX), remote))
        return out
