"""Gathering keys for a menu, a digit string or a yes/no offer: timers and completion rules.

Theory of operation. A collector lives while the run waits at a ``menu``, ``collect`` or
``callback`` node. Its prompt plays first; the **first-key timer starts when the prompt
ends** (``prompt_ended``), so a long prompt never eats the caller's time. With barge-in a key
during the prompt counts as the first key (the engine stops the prompt with ``StopPlaying``);
without barge-in keys during the prompt are dropped. After a key the inter-key timer runs.

A menu (``keys`` given) completes on the first key: a listed key is ``done``, any other is
``invalid``. A digit string completes on the terminator (``invalid`` if shorter than
``min_length``), on reaching ``max_length``, or on the inter-key timeout when at least
``min_length`` digits were typed; ``*``/``#``/``A-D`` inside the digits are ``invalid``.
A ``shortcut`` key (``on_key``) pressed as the very first key leaves the node at once. No key
at all before the first timeout is ``timeout``. The engine turns ``invalid``/``timeout`` into
a retry (``restart``) or the node's failure branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DIGITS = frozenset("0123456789")
KEYS = frozenset("0123456789*#ABCD")

ResultKind = Literal["done", "invalid", "timeout", "shortcut"]


@dataclass(frozen=True, slots=True)
class Result:
    kind: ResultKind
    value: str = ""


@dataclass(slots=True)
class DigitCollector:
    first_timeout: float
    keys: frozenset[str] | None = None  # a menu: one of these keys
    min_length: int = 1
    max_length: int = 1
    terminator: str = ""
    inter_digit_timeout: float = 3.0
    shortcuts: frozenset[str] = frozenset()
    barge_in: bool = True
    digits: str = field(default="", repr=False)  # may be a PIN: never in repr or logs
    attempt: int = 0
    prompt_playing: bool = True
    deadline: float | None = None

    def prompt_ended(self, now: float) -> None:
        self.prompt_playing = False
        if not self.digits:
            self.deadline = now + self.first_timeout

    def accepts_key_now(self) -> bool:
        """False while a prompt without barge-in plays: the key is dropped."""
        return self.barge_in or not self.prompt_playing

    def key(self, digit: str, now: float) -> Result | None:
        """Feed one key (already accepted); ``None`` means keep waiting."""
        self.prompt_playing = False
        if self.keys is not None:
            return Result("done", digit) if digit in self.keys else Result("invalid")
        if not self.digits and digit in self.shortcuts:
            return Result("shortcut", digit)
        if self.terminator and digit == self.terminator:
            if len(self.digits) >= self.min_length:
                return Result("done", self.digits)
            return Result("invalid")
        if digit not in DIGITS:
            return Result("invalid")
        self.digits += digit
        if len(self.digits) >= self.max_length:
            return Result("done", self.digits)
        self.deadline = now + self.inter_digit_timeout
        return None

    def timed_out(self) -> Result:
        if not self.digits:
            return Result("timeout")
        if self.keys is None and len(self.digits) >= self.min_length:
            return Result("done", self.digits)
        return Result("invalid")

    def restart(self) -> None:
        """Next attempt: forget the keys, wait for the (re-played) prompt again."""
        self.digits = ""
        self.attempt += 1
        self.prompt_playing = True
        self.deadline = None

    def clear(self) -> None:
        self.digits = ""
        self.deadline = None
