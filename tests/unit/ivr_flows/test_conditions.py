"""Conditions, schedules, templates and the key collector as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import TypeAdapter, ValidationError

from ivr_flows.collect import DigitCollector, Result
from ivr_flows.conditions import Condition, evaluate
from ivr_flows.hours import Schedule
from ivr_flows.variables import Scalar, render, render_text

from .driver import SEOUL

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
VARS: dict[str, Scalar] = {
    "customer.vip": True,
    "customer.segment": "gold",
    "digits": "3",
    "count": 4,
    "empty": "",
}


def _true(raw: object) -> bool:
    return evaluate(_CONDITION.validate_python(raw), VARS.get)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"var": "customer.vip", "eq": True}, True),
        ({"var": "customer.vip", "eq": 1}, False),  # a bool is not a number here
        ({"var": "customer.vip", "eq": "true"}, True),
        ({"var": "digits", "eq": 3}, True),  # typed digits compare with YAML numbers
        ({"var": "digits", "gt": 2.5}, True),
        ({"var": "count", "le": 4}, True),
        ({"var": "customer.segment", "gt": 1}, False),  # not a number: false, not an error
        ({"var": "customer.segment", "in": ["gold", "silver"]}, True),
        ({"var": "customer.segment", "ne": "gold"}, False),
        ({"var": "missing", "eq": None}, True),
        ({"var": "missing", "exists": False}, True),
        ({"var": "empty", "exists": True}, False),
        ({"all": [{"var": "count", "ge": 4}, {"var": "customer.vip", "eq": True}]}, True),
        ({"any": [{"var": "count", "lt": 4}, {"var": "missing", "exists": True}]}, False),
        ({"not": {"var": "count", "lt": 4}}, True),
    ],
)
def test_conditions(raw: object, expected: bool) -> None:
    assert _true(raw) is expected


@pytest.mark.parametrize(
    "raw",
    [
        {"var": "x", "equals": 1},
        {"var": "x"},
        {"var": "x", "eq": 1, "ne": 2},
        {"eq": 1},
        {"var": "x", "in": 1},
        {"var": "x", "exists": "yes"},
        {"all": []},
        {"all": [{"var": "x", "eq": 1}], "bogus": 1},
    ],
)
def test_bad_conditions_are_rejected(raw: object) -> None:
    with pytest.raises(ValidationError):
        _CONDITION.validate_python(raw)


def test_schedule_ranges_days_and_holidays() -> None:
    office = Schedule.model_validate(
        {
            "weekly": {"mon-fri": "09:00-18:00", "sat,sun": ["10:00-12:00", "13:00-24:00"]},
            "closed": ["2026-03-03"],
        }
    )

    def at(day: int, hour: int, minute: int = 0) -> bool:
        return office.is_open(dt.datetime(2026, 3, day, hour, minute, tzinfo=SEOUL))

    assert at(2, 9) and at(2, 17, 59) and not at(2, 18) and not at(2, 8, 59)  # Monday
    assert not at(3, 10)  # Tuesday, closed
    assert at(7, 11) and not at(7, 12, 30) and at(8, 23, 59)  # weekend


def test_templates_keep_types_when_whole() -> None:
    values: dict[str, Scalar] = {"n": 7, "vip": True, "name": "Kim"}
    get = values.get
    assert render("${n}", get) == 7
    assert render("${vip}", get) is True
    assert render("agent-${name}-${vip}-${none}", get) == "agent-Kim-true-"
    assert render_text("${none}", get) == ""


def test_collector_menu_and_digits() -> None:
    menu = DigitCollector(5.0, keys=frozenset("12"))
    assert menu.deadline is None
    menu.prompt_ended(10.0)
    assert menu.deadline == 15.0
    assert menu.key("2", 11.0) == Result("done", "2")
    assert menu.key("3", 11.0) == Result("invalid")

    pin = DigitCollector(5.0, min_length=4, max_length=6, terminator="#", inter_digit_timeout=2)
    pin.prompt_ended(0.0)
    for i, digit in enumerate("123"):
        assert pin.key(digit, float(i)) is None
    assert pin.deadline == 4.0
    assert pin.timed_out() == Result("invalid")  # 3 < min_length
    assert "123" not in repr(pin)  # a PIN never shows in a repr or a log line
    pin.restart()
    assert (pin.attempt, pin.digits) == (1, "") and pin.deadline is None
    assert pin.timed_out() == Result("timeout")
