"""The number plan: called number (+ where the call came from) -> a routing target.

Routes are tried in config order; the first whose regular expression matches the whole
called number wins. Trunk targets are reachable by authenticated accounts, and by calls
that arrived on a trunk only through a route marked ``from_trunks_only`` (no transit from
one carrier to another by default): an unauthenticated source can never dial out through a
gateway (toll fraud).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cti_server.config import RouteConfig, TrunkConfig


@dataclass(frozen=True, slots=True)
class RouteTarget:
    kind: str  # extension | trunk | uri | flow | queue
    value: str  # account user, dialed number, URI, flow or queue name
    uri: str | None = None  # the SIP URI to send an INVITE to (trunk and uri kinds)
    trunk: str | None = None
    announce: str | None = None  # a prompt the caller hears first (anchored media only)
    language: str | None = None
    voicemail: bool = False
    agent: str | None = None  # queue targets: the designated agent


_GROUP = re.compile(r"\\g<(\w+)>|\\(\d+)")
Template = list[tuple[bool, str | int]]  # (is a group reference, literal text or group)


def compile_template(template: str) -> Template:
    """Cut a ``\\g<0>``/``\\1``-style template once into literals and group references
    (``Match.expand`` re-parses its template on every call, i.e. every INVITE)."""
    parts: Template = []
    pos = 0
    for m in _GROUP.finditer(template):
        if m.start() > pos:
            parts.append((False, template[pos : m.start()]))
        ref = m.group(1) or m.group(2)
        parts.append((True, int(ref) if ref.isdigit() else ref))
        pos = m.end()
    if pos < len(template):
        parts.append((False, template[pos:]))
    return parts


def expand(parts: Template, match: re.Match[str]) -> str:
    return "".join((match.group(p) or "") if is_ref else str(p) for is_ref, p in parts)


class Router:
    def __init__(self, routes: list[RouteConfig], trunks: list[TrunkConfig]) -> None:
        self._routes = [(re.compile(r.match), r) for r in routes]
        self._templates = [compile_template(r.target.partition(":")[2]) for r in routes]
        self._agents = [compile_template(r.agent) if r.agent else None for r in routes]
        self._trunks = {t.name: t for t in trunks}

    def route(
        self, number: str, *, from_trunk: str | None, authenticated: bool
    ) -> RouteTarget | None:
        for (pattern, cfg), parts, agent in zip(
            self._routes, self._templates, self._agents, strict=True
        ):
            m = pattern.fullmatch(number)
            if m is None:
                continue
            if cfg.from_trunks_only and from_trunk is None:
                continue
            kind, _, template = cfg.target.partition(":")
            value = expand(parts, m) if "\\" in template else template
            if kind == "trunk":
                if from_trunk is None and not authenticated:
                    continue
                if from_trunk is not None and not authenticated and not cfg.from_trunks_only:
                    continue  # no transit: trunk to trunk only on a route made for trunks
                dialed = cfg.prefix + number[cfg.strip :]
                uri = self._trunk_uri(template, dialed)
                return RouteTarget(
                    "trunk",
                    dialed,
                    uri=uri,
                    trunk=template,
                    announce=cfg.announce,
                    language=cfg.language,
                )
            fixed = value if kind == "uri" else None
            return RouteTarget(
                kind,
                value,
                uri=fixed,
                announce=cfg.announce,
                language=cfg.language,
                voicemail=cfg.voicemail and kind == "extension",
                agent=expand(agent, m) if agent is not None else None,
            )
        return None

    def _trunk_uri(self, trunk_name: str, dialed: str) -> str:
        base = self._trunks[trunk_name].outbound_uri or ""
        scheme, _, rest = base.partition(":")
        host = rest.rsplit("@", 1)[-1]
        return f"{scheme}:{dialed}@{host}"
