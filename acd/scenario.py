"""A simulation scenario: one contact-center day described in YAML, validated with pydantic.

Units: ``hours`` and shift times are hours from the opening; every other duration is in
seconds. The queues are the ACD's own ``QueueSettings`` (the simulator drives the real
distributor with them). ``variants`` are named changes to the scenario, merged into it
before validation: mappings merge key by key, a mapping given for a list of named entries
(``queues``, ``agents``) changes the entries of those names (an unknown name adds one), and
anything else replaces the value. So ``screen_pop: {talk_time: {mean: 110}}`` changes one
number, and ``callbacks: {queues: {main: {max_wait: 60, overflow: callback}}}`` one queue.

Errors come back as ``file:line: where: reason`` (``cti_server.config.ConfigError``); an
error inside a variant points at the variant's line.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from acd.settings import AcdSettings, AgentSettings, QueueSettings
from acd.strategies import STRATEGIES
from cti_server.yaml_lines import ConfigError, line_of, load_yaml

_NORMAL = NormalDist()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Model):
    """A positive random duration. ``cv`` (standard deviation / mean) is for lognormal;
    exponential has cv 1, constant 0."""

    distribution: Literal["exponential", "lognormal", "constant"] = "exponential"
    mean: float = Field(gt=0, description="seconds")
    cv: float = Field(1.0, gt=0, le=10)

    def quantile(self, u: float) -> float:
        """The value at quantile ``u``: one uniform draw serves every variant's mean."""
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        if self.distribution == "constant":
            return self.mean
        if self.distribution == "exponential":
            return -self.mean * math.log1p(-u)
        sigma2 = math.log1p(self.cv * self.cv)
        return math.exp(math.log(self.mean) - sigma2 / 2 + math.sqrt(sigma2) * _NORMAL.inv_cdf(u))


class Arrivals(_Model):
    """Poisson arrivals at ``rate_per_hour`` (times ``profile[h]`` in hour h of the day), or
    the fixed arrival ``times`` (seconds from the opening)."""

    rate_per_hour: float | None = Field(None, ge=0)
    profile: list[float] | None = Field(None, description="per-hour multipliers of the rate")
    times: list[float] | None = None
    queue: str | None = Field(None, description="default: the first queue")
    priority: int = 0

    @model_validator(mode="after")
    def _one_kind(self) -> Arrivals:
        if (self.rate_per_hour is None) == (self.times is None):
            raise ValueError("give either rate_per_hour (with an optional profile) or times")
        if self.profile is not None and (self.times is not None or min(self.profile) < 0):
            raise ValueError("profile multiplies rate_per_hour; its values must be >= 0")
        if self.times is not None and min(self.times, default=0.0) < 0:
            raise ValueError("arrival times are seconds from the opening, >= 0")
        return self

    def rate_at(self, hour: int) -> float:
        """Calls per hour during hour ``hour`` of the day."""
        if self.rate_per_hour is None:
            return 0.0
        if self.profile is None:
            return self.rate_per_hour
        return self.rate_per_hour * self.profile[hour]


class Shift(_Model):
    start: float = Field(ge=0, description="hours from the opening")
    end: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Shift:
        if self.end <= self.start:
            raise ValueError("a shift ends after it starts")
        return self


class AgentGroup(_Model):
    """``count`` identical agents, ids ``NAME-1`` .. ``NAME-count``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,48}$")
    count: int = Field(1, ge=0, le=5000)
    queues: list[str] = Field(default_factory=list, description="default: every queue")
    skills: dict[str, int] = Field(default_factory=dict)
    shifts: list[Shift] = Field(default_factory=list, description="default: the whole day")
    speed: float = Field(1.0, gt=0, description="talk-time multiplier: 1.2 is 20 % slower")
    no_answer_probability: float | None = Field(None, ge=0, le=1)

    def ids(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(1, self.count + 1)]

    def shift_seconds(self, hours: float) -> list[tuple[float, float]]:
        """The shifts in seconds, overlapping or touching ones as one; default the day."""
        merged: list[tuple[float, float]] = []
        for s in sorted(self.shifts, key=lambda s: s.start):
            start, end = s.start * 3600.0, s.end * 3600.0
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged or [(0.0, hours * 3600.0)]


class Callbacks(_Model):
    """What happens to callers a queue overflows to ``callback`` (``overflow: callback``)."""

    dial_back: bool = Field(True, description="the dialer calls them back when agents are free")
    queue: str | None = Field(None, description="queue of the call-backs; default: the caller's")
    priority: int = Field(-1, description="below live callers: served when nobody waits")
    delay: float = Field(0.0, ge=0, description="seconds before a request may be dialed")
    after_close: bool = Field(False, description="keep dialing after the day's last arrival")


Loc = tuple[int | str, ...]


class ScenarioProblems(ValueError):
    """Cross-field problems, each with the location a person has to fix."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def _unknown_strategy(name: str) -> str:
    return f"unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})"


def _baseline_only() -> dict[str, dict[str, Any]]:
    return {"baseline": {}}


class Scenario(_Model):
    name: str = "scenario"
    title: str = ""
    hours: float = Field(9.0, gt=0, le=10_000, description="arrivals come for this long")
    seed: int = 1
    service_level_seconds: float = Field(20.0, gt=0)
    short_abandon_seconds: float = Field(5.0, ge=0)
    talk_time: Distribution
    patience: Distribution | None = Field(None, description="none: nobody abandons")
    ring_seconds: float = Field(3.0, ge=0, description="an answering agent picks up after")
    no_answer_probability: float = Field(0.0, ge=0, le=1, description="an offer rings out")
    no_answer_pause: float = Field(30.0, ge=0, description="parked agent is ready again after")
    drain_hours: float = Field(2.0, ge=0, description="longest run past the last arrival")
    arrivals: Arrivals
    agents: list[AgentGroup] = Field(min_length=1)
    queues: list[QueueSettings] = Field(min_length=1)
    callbacks: Callbacks = Callbacks()
    strategies: list[str] = Field(default_factory=list, description="default: the queues' own")
    variants: dict[str, dict[str, Any]] = Field(default_factory=_baseline_only)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems: list[tuple[Loc, str]] = []
        names = [q.name for q in self.queues]
        for i, q in enumerate(self.queues):
            if q.strategy not in STRATEGIES:
                problems.append((("queues", i, "strategy"), _unknown_strategy(q.strategy)))
            if q.offer_timeout <= self.ring_seconds:
                problems.append((("queues", i, "offer_timeout"), "must exceed ring_seconds"))
        try:  # duplicate names, overflow targets, agents' queues: the ACD's own checks
            AcdSettings(queues=self.queues, agents=self.agent_settings())
        except ValidationError as exc:
            problems += [
                (("queues",), e["msg"].removeprefix("Value error, ")) for e in exc.errors()
            ]
        for section, queue in (
            ("arrivals", self.arrivals.queue),
            ("callbacks", self.callbacks.queue),
        ):
            if queue is not None and queue not in names:
                problems.append(((section, "queue"), f"unknown queue {queue!r}"))
        for i, strategy in enumerate(self.strategies):
            if strategy not in STRATEGIES:
                problems.append((("strategies", i), _unknown_strategy(strategy)))
        groups = [g.name for g in self.agents]
        for i, name in enumerate(groups):
            if name in groups[:i]:
                problems.append((("agents", i, "name"), f"agent group {name!r} appears twice"))
            for k, shift in enumerate(self.agents[i].shifts):
                if shift.start >= self.hours:
                    where: Loc = ("agents", i, "shifts", k, "start")
                    problems.append(
                        (where, f"starts after the last arrival (hours: {self.hours:g})")
                    )
        hours = math.ceil(self.hours)
        if self.arrivals.profile is not None and len(self.arrivals.profile) < hours:
            problems.append(
                (("arrivals", "profile"), f"needs {hours} hourly values (hours: {self.hours:g})")
            )
        if problems:
            raise ScenarioProblems(problems)
        return self

    @property
    def arrival_queue(self) -> str:
        return self.arrivals.queue or self.queues[0].name

    def agent_settings(self) -> list[AgentSettings]:
        every = [q.name for q in self.queues]
        return [
            AgentSettings(id=agent_id, queues=g.queues or every, skills=g.skills)
            for g in self.agents
            for agent_id in g.ids()
        ]

    def acd_settings(self, strategy: str | None = None) -> AcdSettings:
        """The distributor's settings; ``strategy`` replaces every queue's own."""
        queues = self.queues
        if strategy is not None:
            queues = [q.model_copy(update={"strategy": strategy}) for q in queues]
        return AcdSettings(queues=queues, agents=self.agent_settings())

    def run_strategies(self) -> list[str | None]:
        return list(self.strategies) or [None]

    def variant(self, name: str) -> Scenario:
        """This scenario with variant ``name`` merged in (KeyError when there is none)."""
        patch = self.variants[name]
        data = merge(self.model_dump(exclude={"variants"}), patch)
        return Scenario.model_validate({**data, "variants": {name: patch}})


def merge(base: Any, patch: Any) -> Any:
    """``patch`` over ``base``: see the module docstring."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, dict):
        items = [dict(item) for item in base]
        for name, value in patch.items():
            found = [i for i, item in enumerate(items) if item.get("name") == name]
            if found:
                items[found[0]] = merge(items[found[0]], value)
            else:
                items.append({"name": name, **(value if isinstance(value, dict) else {})})
        return items
    return patch


def parse_scenario(text: str, filename: str = "<scenario>") -> Scenario:
    data = load_yaml(text, filename)
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1: a scenario is a mapping (talk_time, arrivals, ...)"])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, filename, ())) from None
    problems: list[str] = []
    for name, patch in scenario.variants.items():
        if not isinstance(patch, dict) or "variants" in patch:
            line = line_of(data, ("variants", name))
            problems.append(f"{filename}:{line}: variants.{name}: a mapping of changes")
            continue
        try:
            scenario.variant(name)
        except ValidationError as exc:
            problems += _problems(exc, data, filename, ("variants", name))
    if problems:
        raise ConfigError(problems)
    return scenario


def _problems(exc: ValidationError, data: Any, filename: str, prefix: Loc) -> list[str]:
    """``file:line: where: reason`` per error; a variant's are located inside the variant
    as far as its changes mirror the scenario (so at worst at the variant's own line)."""
    found: list[tuple[Loc, str]] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function"))
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, ScenarioProblems):
            found += [(loc + where, message) for where, message in cause.problems]
        else:
            found.append((loc, err["msg"].removeprefix("Value error, ")))
    out = []
    for loc, message in found:
        where = ".".join(str(p) for p in prefix + loc) or "(top level)"
        out.append(f"{filename}:{line_of(data, prefix + loc)}: {where}: {message}")
    return out


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{p}:0: cannot read: {exc.strerror}"]) from exc
    return parse_scenario(text, str(p))
