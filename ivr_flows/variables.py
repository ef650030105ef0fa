"""Flow variables: names, the built-in ones, and ``${var}`` templates.

A flow reads variables in conditions, templates (``target: "${customer.assigned_agent}"``) and
prompt slots, and writes them with ``set`` nodes, menu options and ``collect`` nodes. The
built-in names are filled by the run (caller, customer after a lookup, the clock); only
``language`` among them may be written, so a flow cannot pretend a caller was authenticated.
Templates are substituted, never evaluated: there is no expression language to escape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

Scalar = str | int | float | bool | None

VAR_NAME: Final = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
TEMPLATE_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")

CUSTOMER_FIELDS: Final = (
    "id",
    "number",
    "name",
    "vip",
    "segment",
    "assigned_agent",
    "language",
)
READ_ONLY: Final = frozenset(
    {"caller", "called"}
    | {f"customer.{f}" for f in CUSTOMER_FIELDS}
    | {"auth.method", "auth.outcome"}
    | {"now.hour", "now.minute", "now.weekday", "now.date"}
    | {"queue.name", "queue.wait_seconds", "queue.wait_minutes"}
)
"""Filled by the run; ``queue.*`` is set by an enqueue node that offers a callback."""

WRITABLE_BUILTINS: Final = frozenset({"language"})
BUILTINS: Final = READ_ONLY | WRITABLE_BUILTINS
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def template_vars(text: str) -> list[str]:
    """Variable names a template refers to, in order."""
    return TEMPLATE_REF.findall(text)


def as_text(value: Scalar) -> str:
    """How a value reads inside a template: YAML spelling for booleans, empty for unset."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, get: Callable[[str], Scalar]) -> Scalar:
    """Substitute ``${var}``; a template that is exactly one reference keeps the value's type
    (so ``priority: "${priority}"`` stays an int and ``"${customer.vip}"`` a bool)."""
    whole = TEMPLATE_REF.fullmatch(template)
    if whole is not None:
        return get(whole.group(1))
    return TEMPLATE_REF.sub(lambda m: as_text(get(m.group(1))), template)


def render_text(template: str, get: Callable[[str], Scalar]) -> str:
    return as_text(render(template, get))
