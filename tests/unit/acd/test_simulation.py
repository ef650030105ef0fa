"""The simulator against queueing theory, its determinism, and the scenario loader's errors."""

from __future__ import annotations

import random
from typing import Any

import pytest

from acd.scenario import Scenario, parse_scenario
from acd.sim_figures import Tally, gini, predict
from acd.simulation import CallRecord, RngFactory, RunOutput, simulate
from cti_server.config import ConfigError


def rngs(seed: int) -> RngFactory:
    return lambda name: random.Random(f"{seed}:{name}")


def scenario(**changes: Any) -> Scenario:
    data: dict[str, Any] = {
        "hours": 2,
        "talk_time": {"distribution": "exponential", "mean": 60},
        "ring_seconds": 0,
        "arrivals": {"rate_per_hour": 30},
        "agents": [{"name": "a", "count": 1}],
        "queues": [{"name": "q", "wrap_up": 0, "announce_every": None}],
    }
    data.update(changes)
    return Scenario.model_validate(data)


def tally(s: Scenario, seed: int = 1, strategy: str | None = None) -> Tally:
    run = simulate(s, strategy, rngs(seed))
    result = Tally(variant="v", strategy=run.strategy)
    result.add(run)
    return result


# --- against theory -----------------------------------------------------------------------------


def test_single_agent_without_abandonment_is_mm1() -> None:
    """rho 0.5, AHT 60 s: Wq = rho AHT / (1 - rho) = 60 s, P(wait) = occupancy = 0.5."""
    s = scenario(hours=300)
    run = simulate(s, None, rngs(3))
    inbound = [r for r in run.records if r.kind == "inbound"]
    assert {r.outcome for r in inbound} == {"answered"}
    t = Tally(variant="v", strategy="s")
    t.add(run)
    assert t.offered > 8500
    assert t.asa == pytest.approx(60.0, rel=0.12)
    assert sum(r.waited > 0 for r in inbound) / len(inbound) == pytest.approx(0.5, abs=0.03)
    assert t.occupancy == pytest.approx(0.5, abs=0.03)
    assert t.aht == pytest.approx(60.0, rel=0.05)


def test_erlang_a_predicts_the_simulated_answer_rate_and_service_level() -> None:
    s = scenario(
        hours=60,
        talk_time={"distribution": "exponential", "mean": 100},
        patience={"mean": 60},
        arrivals={"rate_per_hour": 198},  # 5.5 Erlangs on 5 agents
        agents=[{"name": "a", "count": 5}],
    )
    predicted = predict(s)
    assert predicted is not None
    _, a = predicted
    t = tally(s, seed=2)
    assert t.answer_rate == pytest.approx(a.answer_rate, abs=0.02)
    assert t.sl_offered == pytest.approx(a.service_level, abs=0.03)
    assert t.asa == pytest.approx(a.asa, rel=0.1)
    assert t.abandon_rate == pytest.approx(a.abandon_rate, abs=0.02)


def test_same_seed_same_day_other_seed_other_day() -> None:
    s = scenario(patience={"mean": 90}, agents=[{"name": "a", "count": 2}])

    def outcomes(seed: int) -> list[tuple[str, str, float, str]]:
        run = simulate(s, None, rngs(seed))
        return [(r.call_id, r.outcome, r.waited, r.agent_id) for r in run.records]

    assert outcomes(5) == outcomes(5)
    assert outcomes(5) != outcomes(6)


def test_strategies_change_fairness_with_unequal_agents() -> None:
    """Light load, so several agents are often ready: linear always takes the first."""
    s = scenario(
        hours=8,
        talk_time={"distribution": "lognormal", "mean": 120, "cv": 0.5},
        arrivals={"rate_per_hour": 60},
        agents=[{"name": "fast", "count": 3, "speed": 0.7}, {"name": "slow", "count": 3}],
        queues=[{"name": "q", "wrap_up": 5, "announce_every": None}],
    )
    ginis = {name: tally(s, 4, name).gini for name in ("linear", "fewest_calls", "equalized")}
    assert ginis["linear"] > 0.25
    assert ginis["fewest_calls"] < 0.05
    assert ginis["equalized"] < ginis["linear"] / 2


# --- the simulated world ------------------------------------------------------------------------


def test_rona_parks_agents_then_they_come_back() -> None:
    s = scenario(
        hours=2,
        arrivals={"rate_per_hour": 40},
        agents=[{"name": "deaf", "count": 1, "no_answer_probability": 1.0}, {"name": "ok"}],
        queues=[{"name": "q", "wrap_up": 0, "announce_every": None, "offer_timeout": 10}],
    )
    run = simulate(s, "linear", rngs(1))  # linear: "deaf-1" is offered first when both are ready
    answered = [r for r in run.records if r.outcome == "answered"]
    assert answered and {r.agent_id for r in answered} == {"ok-1"}
    assert any(r.no_answers for r in run.records)
    deaf = next(a for a in run.agents if a.agent_id == "deaf-1")
    assert deaf.time_in["not_ready"] > 60 and deaf.time_in["ready"] > 0


def test_callbacks_are_requested_and_dialed_back() -> None:
    s = scenario(
        hours=3,
        arrivals={"rate_per_hour": 80, "profile": [1.5, 1.5, 0.1]},  # then a lull to call back
        agents=[{"name": "a", "count": 2}],
        queues=[{"name": "q", "wrap_up": 0, "max_wait": 30, "overflow": "callback"}],
    )
    run = simulate(s, None, rngs(2))
    t = Tally(variant="v", strategy="s")
    t.add(run)
    assert t.callbacks_requested > 10
    assert t.callbacks_handled + t.callbacks_pending == t.callbacks_requested
    assert t.callbacks_handled > 0 and t.served_rate > t.answer_rate
    inbound = {r.outcome for r in run.records if r.kind == "inbound"}
    assert inbound <= {"answered", "callback"}
    callbacks = [r for r in run.records if r.kind == "callback"]
    assert {r.outcome for r in callbacks} <= {"answered", "redialed"}
    assert all(r.origin for r in callbacks)


def test_shifts_log_agents_in_and_out() -> None:
    s = scenario(
        hours=2,
        arrivals={"rate_per_hour": 20},
        agents=[
            {"name": "am", "shifts": [{"start": 0, "end": 1}]},
            {"name": "pm", "shifts": [{"start": 1, "end": 2}]},
        ],
    )
    run = simulate(s, None, rngs(3))
    am = next(a for a in run.agents if a.agent_id == "am-1")
    assert am.logged_in_time == pytest.approx(3600, abs=600)  # ends the call in hand first
    for r in run.records:
        if r.outcome == "answered" and r.arrived_at + r.waited > 3700:
            assert r.agent_id == "pm-1"


def test_fixed_arrival_times() -> None:
    s = scenario(hours=1, arrivals={"times": [10, 20, 30]})
    run = simulate(s, None, rngs(1))
    assert [r.arrived_at for r in run.records] == [10, 20, 30]


# --- figures ------------------------------------------------------------------------------------


def test_definitions_on_hand_made_records() -> None:
    s = scenario(short_abandon_seconds=5, service_level_seconds=20)
    records = [
        CallRecord("c1", "inbound", 0, "q", 0.5, outcome="answered", waited=10),
        CallRecord("c2", "inbound", 0, "q", 0.5, outcome="answered", waited=30),
        CallRecord("c3", "inbound", 0, "q", 0.5, outcome="abandoned", waited=2),
        CallRecord("c4", "inbound", 0, "q", 0.5, outcome="abandoned", waited=50),
        CallRecord("c5", "inbound", 0, "q", 0.5, outcome="callback", waited=60),
        CallRecord("b6", "callback", 900, "q", 0.5, outcome="answered", origin="c5"),
    ]
    t = Tally(variant="v", strategy="s")
    t.add(RunOutput(s, "s", records, [], 7200, 7200, 0))
    assert (t.offered, t.answered, t.abandoned, t.short_abandoned) == (5, 2, 2, 1)
    assert t.answer_rate == pytest.approx(2 / 5)
    assert t.served_rate == pytest.approx(3 / 5)
    assert t.sl_offered == pytest.approx(1 / 5)
    assert t.sl_excl_short == pytest.approx(1 / 4)
    assert t.sl_answered == pytest.approx(1 / 2)
    assert t.abandon_rate == pytest.approx(2 / 5)
    assert t.abandon_rate_excl_short == pytest.approx(1 / 4)
    assert t.asa == pytest.approx(20.0)
    assert (t.callbacks_requested, t.callbacks_handled) == (1, 1)


def test_gini() -> None:
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)
    assert gini([]) == 0.0


# --- scenarios ----------------------------------------------------------------------------------

GOOD = """\
name: t
talk_time: {mean: 100}
arrivals: {rate_per_hour: 10}
agents:
  - {name: a, count: 2}
queues:
  - {name: q}
variants:
  baseline: {}
  faster: {talk_time: {mean: 80}}
  more: {agents: {a: {count: 3}, b: {count: 1}}}
  cb: {queues: {q: {max_wait: 60, overflow: callback}}}
"""


def test_variants_merge_into_the_scenario() -> None:
    s = parse_scenario(GOOD, "good.yaml")
    assert s.variant("faster").talk_time.mean == 80
    assert s.variant("faster").talk_time.distribution == "exponential"
    more = s.variant("more")
    assert [(g.name, g.count) for g in more.agents] == [("a", 3), ("b", 1)]
    assert len(more.acd_settings().agents) == 4
    queue = s.variant("cb").queues[0]
    assert (queue.max_wait, queue.overflow, queue.name) == (60, "callback", "q")
    assert s.acd_settings("fewest_calls").queues[0].strategy == "fewest_calls"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("{name: q}", "{name: q, strategy: fastest}"),
            "bad.yaml:7: queues.0.strategy: unknown",
        ),
        (GOOD.replace("{mean: 100}", "{mean: -1}"), "bad.yaml:2: talk_time.mean:"),
        (GOOD.replace("{rate_per_hour: 10}", "{}"), "bad.yaml:3: arrivals:"),
        (
            GOOD.replace("{mean: 80}", "{mean: 0}"),
            "bad.yaml:10: variants.faster.talk_time.mean: Input",
        ),
        (
            GOOD.replace("{name: q}", "{name: q}\nstrategies: [nope]"),
            "bad.yaml:8: strategies.0: unknown",
        ),
        (
            GOOD.replace("rate_per_hour: 10}", "rate_per_hour: 10, profile: [1]}"),
            "bad.yaml:3: arrivals.profile",
        ),
        (GOOD.replace("agents:\n", "agents: [\n"), "bad.yaml:"),
        (
            GOOD.replace("count: 2}", "count: 2, shifts: [{start: 10, end: 12}]}"),
            "bad.yaml:5: agents.0.shifts.0.start: starts after the last arrival",
        ),
        (
            GOOD.replace("overflow: callback", "overflow: x"),
            "bad.yaml:12: variants.cb.queues.0.overflow",
        ),
    ],
)
def test_scenario_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, "bad.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)
