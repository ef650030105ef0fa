"""The agent-script file format: pydantic models of a script tree and its step kinds.

A script is what an agent reads and asks during a call: a list of steps, each with Korean and
English text. ``say`` steps are read out and lead on; ``question`` steps wait for the agent to
pick one of the customer's answers (each choice names the step that follows) or to type one;
``end`` steps close the script and suggest a disposition for the wrap-up form.

Validation here is per step (fields, choice ids, placeholders); whether the steps form a
proper tree (ids unique, every ``next`` exists, every step reachable, no loop unless the file
says so) is :func:`cti_server.crm.scripts.script_problems`, so the loader can point at the
line of each bad reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr_flows.conditions import Loc

LANGUAGES = ("ko", "en")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
"""``{customer.name}``: a dotted path into the screen pop, filled when the step is shown."""
MAX_TEXT = 2000
MAX_ANSWER = 2000


def _id_text(value: Any) -> Any:
    """YAML reads ``id: 1`` as an int; ids are text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


StepId = Annotated[
    str, BeforeValidator(_id_text), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
]
ChoiceId = Annotated[
    str, BeforeValidator(_id_text), Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
]
DispositionCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ScriptName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def placeholders(text: str) -> frozenset[str]:
    return frozenset(PLACEHOLDER.findall(text))


class Text(_Model):
    """The same words in both languages the desktop speaks."""

    ko: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    en: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]

    @model_validator(mode="after")
    def _placeholders(self) -> Text:
        for language in LANGUAGES:
            text: str = getattr(self, language)
            stray = PLACEHOLDER.sub("", text)
            if "{" in stray or "}" in stray:
                raise ValueError(
                    f"{language}: a brace that is not part of a {{name.field}} placeholder"
                )
        if placeholders(self.ko) != placeholders(self.en):
            only_ko = sorted(placeholders(self.ko) - placeholders(self.en))
            only_en = sorted(placeholders(self.en) - placeholders(self.ko))
            raise ValueError(
                f"ko and en use different placeholders (only ko: {only_ko}, only en: {only_en})"
            )
        return self

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.ko


class Choice(_Model):
    id: ChoiceId
    label: Text
    next: StepId


class _Step(_Model):
    id: StepId
    kind: str
    text: Text


class SayStep(_Step):
    """Read out, then on to ``next`` without an answer."""

    kind: Literal["say"]
    next: StepId


class QuestionStep(_Step):
    """One of ``choices`` (each with its own ``next``), or free text then ``next``.

    ``category: true`` makes the chosen choice's id the contact-history category (the reason
    for the call); ``optional: true`` lets a free-text answer be empty.
    """

    kind: Literal["question"]
    choices: tuple[Choice, ...] = ()
    next: StepId | None = None
    optional: bool = False
    category: bool = False

    @model_validator(mode="after")
    def _one_way_on(self) -> QuestionStep:
        if self.choices and self.next is not None:
            raise ValueError("a question has choices (each with its next) or next (free text)")
        if not self.choices and self.next is None:
            raise ValueError("a question needs choices, or next for a free-text answer")
        if self.choices and self.optional:
            raise ValueError("optional is for free-text questions")
        if not self.choices and self.category:
            raise ValueError("category is for questions with choices")
        seen: set[str] = set()
        for choice in self.choices:
            if choice.id in seen:
                raise ValueError(f"choice id {choice.id!r} is used twice")
            seen.add(choice.id)
        return self

    @property
    def free_text(self) -> bool:
        return not self.choices

    def choice(self, choice_id: str) -> Choice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


class EndStep(_Step):
    """The script is done; ``disposition`` is what the wrap-up form suggests."""

    kind: Literal["end"]
    disposition: DispositionCode


Step = Annotated[SayStep | QuestionStep | EndStep, Field(discriminator="kind")]
AnyStep = SayStep | QuestionStep | EndStep
STEP_KINDS = ("say", "question", "end")


class Script(_Model):
    name: ScriptName
    title: Text
    start: StepId
    allow_cycles: bool = False
    """A loop (e.g. "anything else?" back to the reason question) must be asked for."""
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]

    def step(self, step_id: str) -> AnyStep:
        """The step with that id (``KeyError`` if none: a validated script has them all)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def edges(step: AnyStep) -> list[tuple[Loc, str]]:
    """Where a step leads, each with the location (inside the step) of the field that says so."""
    if isinstance(step, SayStep):
        return [(("next",), step.next)]
    if isinstance(step, QuestionStep):
        if step.next is not None:
            return [(("next",), step.next)]
        return [(("choices", i, "next"), c.next) for i, c in enumerate(step.choices)]
    return []


__all__ = [
    "LANGUAGES",
    "MAX_ANSWER",
    "PLACEHOLDER",
    "STEP_KINDS",
    "AnyStep",
    "Choice",
    "EndStep",
    "QuestionStep",
    "SayStep",
    "Script",
    "Step",
    "Text",
    "edges",
    "placeholders",
]
