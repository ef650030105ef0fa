"""Erlang B/C against textbook values; Erlang A against Erlang C and its own identities."""

from __future__ import annotations

import math

import pytest

from acd.erlang import (
    _hypoexponential_mass,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
)


def test_erlang_b_and_c_textbook_values() -> None:
    assert erlang_b(5, 3.0) == pytest.approx(0.1101, abs=1e-4)
    assert erlang_b(10, 8.0) == pytest.approx(0.1217, abs=1e-4)
    assert erlang_c(10, 8.0) == pytest.approx(0.409, abs=1e-3)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at rho 0.5
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho


def test_erlang_c_asa_and_service_level() -> None:
    result = erlang_c_metrics(10, 8 / 150, 150.0, threshold=20.0)
    assert result.stable and result.answer_rate == 1.0
    assert result.asa == pytest.approx(0.40918 * 150 / 2, rel=1e-4)
    assert result.service_level == pytest.approx(1 - 0.40918 * math.exp(-2 * 20 / 150), rel=1e-4)
    assert result.occupancy == pytest.approx(0.8)


def test_erlang_c_overload_is_unstable() -> None:
    result = erlang_c_metrics(5, 6 / 100, 100.0)
    assert not result.stable and result.p_wait == 1.0
    assert math.isinf(result.asa) and result.service_level == 0.0


@pytest.mark.parametrize(("agents", "load"), [(1, 0.5), (10, 8.0), (50, 45.0)])
def test_erlang_a_tends_to_erlang_c_as_patience_grows(agents: int, load: float) -> None:
    c = erlang_c_metrics(agents, load / 120, 120.0)
    a = erlang_a_metrics(agents, load / 120, 120.0, patience=1e8)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-3)
    assert a.asa == pytest.approx(c.asa, rel=1e-3)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-3)
    assert a.answer_rate == pytest.approx(1.0, abs=1e-4)
    assert erlang_a_metrics(agents, load / 120, 120.0, patience=None) == c


@pytest.mark.parametrize(
    ("agents", "load", "patience"),
    [(1, 0.9, 30.0), (10, 8.0, 120.0), (14, 23.0, 90.0), (20, 40.0, 10.0), (500, 520.0, 60.0)],
)
def test_erlang_a_identities(agents: int, load: float, patience: float) -> None:
    a = erlang_a_metrics(agents, load / 150, 150.0, patience)
    # Abandonment flow over arrival flow = what is not answered.
    assert a.p_abandon + a.answer_rate == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < a.service_level <= a.answer_rate <= 1.0
    assert a.mean_wait > 0 and a.asa > 0
    # Carried load = answered calls times handle time.
    assert a.occupancy * agents == pytest.approx(load * a.answer_rate, rel=1e-9)


def test_erlang_a_moves_the_right_way() -> None:
    def answered(agents: int, patience: float) -> float:
        return erlang_a_metrics(agents, 23 / 150, 150.0, patience).answer_rate

    assert answered(14, 90) < answered(16, 90) < answered(18, 90)
    assert answered(14, 30) < answered(14, 90) < answered(14, 300)


def test_hypoexponential_mass_matches_the_closed_form() -> None:
    base, theta, t = 0.1, 0.05, 12.0
    rates = [base + (i + 1) * theta for i in range(3)]  # distinct: the closed form holds
    expected = 1.0
    for i, r in enumerate(rates):
        coefficient = math.prod(s / (s - r) for k, s in enumerate(rates) if k != i)
        expected -= coefficient * math.exp(-r * t)
    assert _hypoexponential_mass([0.0, 0.0, 1.0], base, theta, t) == pytest.approx(expected)
    one_stage = _hypoexponential_mass([0.5], base, theta, t)
    assert one_stage == pytest.approx(0.5 * (1 - math.exp(-rates[0] * t)))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        erlang_c_metrics(3, 0.1, 0.0)
    with pytest.raises(ValueError):
        erlang_a_metrics(3, 0.01, 100.0, patience=0.0)
