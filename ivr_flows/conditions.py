"""Branch conditions: a small structured language, evaluated by walking it (never ``eval``).

A condition is one of::

    {var: customer.vip, eq: true}          # eq ne gt ge lt le: compare with a value
    {var: auth.outcome, in: [ok, locked]}  # in: one of a list
    {var: customer.id, exists: true}       # exists: set and not empty
    {all: [cond, ...]}  {any: [cond, ...]}  {not: cond}

Comparisons are forgiving about YAML types because callers type digits: ``eq`` matches
when the values are equal or read the same as text (``"1"`` and ``1``); ``gt``/``ge``/``lt``/
``le`` compare numbers and are false when either side is not a number. A variable that is not
set is ``None``: it equals nothing but ``null`` and does not ``exist``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from ivr_flows.variables import VAR_NAME, Scalar, as_text

Loc = tuple[str | int, ...]
OPERATORS: Final = ("eq", "ne", "gt", "ge", "lt", "le", "in", "exists")
Operator = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "exists"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Model):
    """``{var: name, <op>: value}`` (the YAML form); stored as ``var``, ``op``, ``value``."""

    var: Annotated[str, Field(pattern=VAR_NAME)]
    op: Operator
    value: Scalar | tuple[Scalar, ...]

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "op" in data:
            return data
        unknown = [k for k in data if k != "var" and k not in OPERATORS]
        if unknown:
            raise ValueError(
                f"unknown condition operator {unknown[0]!r} "
                f"(use {', '.join(OPERATORS)}, or all/any/not)"
            )
        ops = [k for k in data if k in OPERATORS]
        if len(ops) != 1:
            raise ValueError(f"a condition needs exactly one of {', '.join(OPERATORS)}")
        if "var" not in data:
            raise ValueError("a condition needs var: <variable name>")
        return {"var": data["var"], "op": ops[0], "value": data[ops[0]]}

    @model_validator(mode="after")
    def _value_fits(self) -> Compare:
        if self.op == "in" and not isinstance(self.value, tuple):
            raise ValueError("in: needs a list of values")
        if self.op != "in" and isinstance(self.value, tuple):
            raise ValueError(f"{self.op}: needs one value, not a list")
        if self.op == "exists" and not isinstance(self.value, bool):
            raise ValueError("exists: needs true or false")
        if self.op in ("gt", "ge", "lt", "le") and _number(self.value) is None:
            raise ValueError(f"{self.op}: needs a number")
        return self


class AllOf(_Model):
    all: Annotated[list[Condition], Field(min_length=1)]


class AnyOf(_Model):
    any: Annotated[list[Condition], Field(min_length=1)]


class NotOf(_Model):
    not_: Condition = Field(alias="not")


def _tag(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("all", "any", "not"):
            if key in data:
                return key
        return "compare"
    if isinstance(data, AllOf | AnyOf | NotOf):
        return "all" if isinstance(data, AllOf) else "any" if isinstance(data, AnyOf) else "not"
    return "compare"


Condition = Annotated[
    Annotated[Compare, Tag("compare")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(_tag),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def evaluate(cond: Compare | AllOf | AnyOf | NotOf, get: Callable[[str], Scalar]) -> bool:
    if isinstance(cond, AllOf):
        return all(evaluate(c, get) for c in cond.all)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, get) for c in cond.any)
    if isinstance(cond, NotOf):
        return not evaluate(cond.not_, get)
    return _compare(cond, get(cond.var))


def variables(cond: Compare | AllOf | AnyOf | NotOf, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every variable a condition reads, with its location (for load-time checks)."""
    if isinstance(cond, AllOf | AnyOf):
        key = "all" if isinstance(cond, AllOf) else "any"
        for i, sub in enumerate(cond.all if isinstance(cond, AllOf) else cond.any):
            yield from variables(sub, (*loc, key, i))
    elif isinstance(cond, NotOf):
        yield from variables(cond.not_, (*loc, "not"))
    else:
        yield (*loc, "var"), cond.var


def _compare(cond: Compare, have: Scalar) -> bool:
    want = cond.value
    if cond.op == "exists":
        return (have is not None and have != "") is want
    if cond.op == "in":
        return isinstance(want, tuple) and any(_equal(have, w) for w in want)
    if isinstance(want, tuple):
        return False
    if cond.op == "eq":
        return _equal(have, want)
    if cond.op == "ne":
        return not _equal(have, want)
    a, b = _number(have), _number(want)
    if a is None or b is None:
        return False
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[cond.op]


def _equal(a: Scalar, b: Scalar) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):  # True must not equal 1
        return as_text(a) == as_text(b)
    return a == b or as_text(a) == as_text(b)


def _number(value: Scalar | tuple[Scalar, ...]) -> float | None:
    if isinstance(value, bool) or value is None or isinstance(value, tuple):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None
