"""Agent scripts: whether a script tree hangs together, and where a call is in it.

Pure functions over :class:`~cti_server.crm.script_schema.Script` (the loader turns problem
locations into ``file:line``). A call's progress is just the agent's answers so far;
:func:`walk` replays them from ``start`` to find the step to show now, so the desktop, the API
and the stored disposition all agree on one path without any state kept on the server.

Answers come as ``{step_id: answer}`` (what the desktop posts) or, for scripts with loops,
where a question can be asked twice, as an ordered list of ``(step_id, answer)`` pairs. With a
mapping, a walk that comes back to a step it has passed stops there. ``say`` steps take no
answer; a choice's answer is its id; a free-text answer is the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cti_server.crm.script_schema import (
    MAX_ANSWER,
    PLACEHOLDER,
    AnyStep,
    EndStep,
    QuestionStep,
    SayStep,
    Script,
    edges,
)
from cti_server.crm.script_settings import ScriptSettings
from ivr_flows.conditions import Loc

Problem = tuple[Loc, str]
Answers = Mapping[str, Any] | Sequence[tuple[str, Any]]


class AnswerError(ValueError):
    """An answer that does not fit the script; ``step_id`` names the step it was for."""

    def __init__(self, step_id: str | None, message: str) -> None:
        super().__init__(message)
        self.step_id = step_id


# --- the tree --------------------------------------------------------------------------------


def script_problems(script: Script, *, broken: frozenset[str] = frozenset()) -> list[Problem]:
    """Duplicate ids, unknown ``start``/``next``, unreachable steps, loops not allowed, and
    (with loops allowed) steps from which no end can be reached. ``broken``: ids of steps that
    failed the schema (they exist, but their edges are unknown, so the graph is not judged)."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, step in enumerate(script.steps):
        if step.id in first:
            problems.append(
                (
                    ("steps", i, "id"),
                    f"step id {step.id!r} is already used by steps.{first[step.id]}",
                )
            )
        else:
            first[step.id] = i
    known = set(first) | broken
    if script.start not in known:
        problems.append((("start",), f"unknown step {script.start!r}"))
    for i, step in enumerate(script.steps):
        for loc, target in edges(step):
            if target not in known:
                problems.append((("steps", i, *loc), f"unknown step {target!r}"))
    if problems or broken:
        return problems
    graph = {step.id: [t for _, t in edges(step)] for step in script.steps}
    reached = _reachable(graph, script.start)
    for i, step in enumerate(script.steps):
        if step.id not in reached:
            problems.append(
                (("steps", i, "id"), f"step {step.id!r} cannot be reached from {script.start!r}")
            )
    if script.allow_cycles:
        ends = {s.id for s in script.steps if isinstance(s, EndStep)}
        for i, step in enumerate(script.steps):
            if step.id in reached and not _reachable(graph, step.id) & ends:
                problems.append(
                    (("steps", i, "id"), f"no end step can be reached from {step.id!r}")
                )
    else:
        problems += _loops(script, graph)
    return problems


def _reachable(graph: Mapping[str, list[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _loops(script: Script, graph: Mapping[str, list[str]]) -> list[Problem]:
    """Each edge that closes a loop (a depth-first back edge), once."""
    index = {step.id: i for i, step in enumerate(script.steps)}
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in graph:
        if root in state:
            continue
        path, stack = [root], [iter(edges(script.steps[index[root]]))]
        state[root] = 1
        while stack:
            item = next(stack[-1], None)
            if item is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            loc, target = item
            if state.get(target) == 1:
                cycle = " -> ".join([*path[path.index(target) :], target])
                problems.append(
                    (
                        ("steps", index[path[-1]], *loc),
                        f"goes back to {target!r} ({cycle}); set allow_cycles: true "
                        "if the loop is meant",
                    )
                )
            elif target not in state:
                state[target] = 1
                path.append(target)
                stack.append(iter(edges(script.steps[index[target]])))
    return problems


# --- where a call is -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where a call is: ``path`` lists every step shown so far, ``current`` last."""

    path: tuple[str, ...]
    answers: tuple[tuple[str, str], ...]  # the answers used, in path order
    current: str
    finished: bool  # ``current`` is an end step
    disposition: str | None  # the end step's suggestion once finished
    unused: tuple[str, ...]  # steps with answers the walk did not reach


def walk(script: Script, answers: Answers) -> Position:
    """Follow the answers from ``start`` until a question has none yet, or an end.

    Raises :class:`AnswerError` for an answer that does not fit the step it is for, or one
    for a step that is not a question of this script.
    """
    pairs = _pairs(script, answers)
    ordered = not isinstance(answers, Mapping)
    by_step = dict(pairs)
    used: list[tuple[str, str]] = []
    path: list[str] = []
    step: AnyStep = script.step(script.start)
    while not (step.id in path and not ordered):  # a mapping holds one answer per step
        path.append(step.id)
        if isinstance(step, EndStep):
            break
        if isinstance(step, SayStep):
            step = script.step(step.next)
            continue
        if ordered:
            if len(used) == len(pairs):
                break
            step_id, raw = pairs[len(used)]
            if step_id != step.id:
                raise AnswerError(
                    step_id, f"answers out of order: {step.id!r} comes next, not {step_id!r}"
                )
        elif step.id in by_step:
            raw = by_step[step.id]
        else:
            break
        answer, following = _answer(step, raw)
        used.append((step.id, answer))
        step = script.step(following)
    if ordered:
        unused = tuple(s for s, _ in pairs[len(used) :])
    else:
        unused = tuple(s for s, _ in pairs if s not in {u for u, _ in used})
    return Position(
        path=tuple(path),
        answers=tuple(used),
        current=step.id,
        finished=isinstance(step, EndStep),
        disposition=step.disposition if isinstance(step, EndStep) else None,
        unused=unused,
    )


def _pairs(script: Script, answers: Answers) -> list[tuple[str, Any]]:
    if isinstance(answers, Mapping):
        items = list(answers.items())
    elif isinstance(answers, str | bytes):
        raise AnswerError(None, "answers are {step_id: answer} or a list of [step_id, answer]")
    else:
        items = []
        for item in answers:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise AnswerError(None, f"an answer must be a [step_id, answer] pair, not {item!r}")
            items.append((item[0], item[1]))
    kinds = {step.id: step.kind for step in script.steps}
    for step_id, _ in items:
        if not isinstance(step_id, str) or step_id not in kinds:
            raise AnswerError(None, f"{script.name!r} has no step {step_id!r}")
        if kinds[step_id] != "question":
            raise AnswerError(
                step_id, f"{step_id!r} is not a question ({kinds[step_id]}): it takes no answer"
            )
    return items


def _answer(step: QuestionStep, raw: Any) -> tuple[str, str]:
    """The answer as stored, and the step it leads to."""
    if not isinstance(raw, str):
        raise AnswerError(step.id, f"the answer for {step.id!r} must be text, not {raw!r}")
    if step.free_text:
        text = raw.strip()
        if not text and not step.optional:
            raise AnswerError(step.id, f"the answer for {step.id!r} is empty")
        if len(text) > MAX_ANSWER:
            raise AnswerError(
                step.id, f"the answer for {step.id!r} is over {MAX_ANSWER} characters"
            )
        assert step.next is not None
        return text, step.next
    choice = step.choice(raw)
    if choice is None:
        known = ", ".join(c.id for c in step.choices)
        raise AnswerError(step.id, f"{raw!r} is not a choice of {step.id!r} ({known})")
    return choice.id, choice.next


def validate_answers(script: Script, answers: Answers, *, complete: bool = False) -> str | None:
    """None when the answers follow one real path from ``start`` (every answer fits its step
    and lies on that path); otherwise what is wrong, for a person to read. ``complete``: the
    path must also reach an end step (a call may be closed mid-script, so not by default)."""
    try:
        position = walk(script, answers)
    except AnswerError as exc:
        return str(exc)
    if position.unused:
        names = ", ".join(repr(s) for s in position.unused)
        where = " -> ".join(position.path)
        return f"answers for {names} are not on the path the answers take ({where})"
    if complete and not position.finished:
        return f"the script is not finished: {position.current!r} has no answer yet"
    return None


# --- showing it ------------------------------------------------------------------------------


def fill(text: str, context: Mapping[str, Any]) -> str:
    """Placeholders filled from ``context`` (e.g. ``{"customer": screen_pop}``); one with no
    value stays as it is, so the agent sees what to ask for instead of a gap."""

    def value(match: re.Match[str]) -> str:
        node: Any = context
        for part in match.group(1).split("."):
            if not isinstance(node, Mapping) or node.get(part) is None:
                return match.group(0)
            node = node[part]
        return node if isinstance(node, str) else str(node)

    return PLACEHOLDER.sub(value, text)


def step_view(
    step: AnyStep, *, language: str = "ko", context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One step as the desktop shows it: the text in ``language`` with placeholders filled."""
    view: dict[str, Any] = {
        "id": step.id,
        "kind": step.kind,
        "text": fill(step.text.get(language), context or {}),
    }
    if isinstance(step, QuestionStep):
        view["choices"] = [{"id": c.id, "label": c.label.get(language)} for c in step.choices]
        view["free_text"] = step.free_text
        view["optional"] = step.optional
    elif isinstance(step, EndStep):
        view["disposition"] = step.disposition
    return view


def position_view(
    script: Script,
    answers: Answers,
    *,
    language: str = "ko",
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The desktop's script panel: the steps passed (with their answers), the one to show
    now, and the suggested disposition once finished. Raises :class:`AnswerError`."""
    position = walk(script, answers)
    given = dict(position.answers)
    path = []
    for step_id in position.path:
        view = step_view(script.step(step_id), language=language, context=context)
        view["answer"] = given.get(step_id)
        path.append(view)
    return {
        "script": script.name,
        "title": script.title.get(language),
        "path": path,
        "current": position.current,
        "finished": position.finished,
        "disposition": position.disposition,
    }


def script_json(script: Script) -> dict[str, Any]:
    """The whole tree, both languages (``GET /scripts/{name}``)."""
    data: dict[str, Any] = script.model_dump(mode="json", exclude_none=True)
    return data


# --- what is kept ----------------------------------------------------------------------------


def category_of(script: Script, answers: Answers) -> str | None:
    """The choice picked at the first ``category: true`` question on the path (the reason for
    the call, as contact history files it)."""
    for step_id, answer in walk(script, answers).answers:
        step = script.step(step_id)
        if isinstance(step, QuestionStep) and step.category:
            return answer
    return None


def summarize(script: Script, answers: Answers, *, language: str = "ko") -> str:
    """A one-line summary for contact history: the labels of the choices picked, in order."""
    labels = []
    for step_id, answer in walk(script, answers).answers:
        step = script.step(step_id)
        if isinstance(step, QuestionStep) and (choice := step.choice(answer)) is not None:
            labels.append(choice.label.get(language))
    return " / ".join(labels)


def script_for(
    scripts: Mapping[str, Script],
    settings: ScriptSettings,
    *,
    queue: str | None = None,
    campaign: str | None = None,
) -> Script | None:
    """The script a call shows: its campaign's, else its queue's, else none."""
    if campaign is not None and campaign in settings.by_campaign:
        return scripts.get(settings.by_campaign[campaign])
    if queue is not None and queue in settings.by_queue:
        return scripts.get(settings.by_queue[queue])
    return None


__all__ = [
    "AnswerError",
    "Answers",
    "Position",
    "Problem",
    "category_of",
    "fill",
    "position_view",
    "script_for",
    "script_json",
    "script_problems",
    "step_view",
    "summarize",
    "validate_answers",
    "walk",
]
