"""The flow file format: pydantic models of a flow and its node kinds.

A flow is a graph of named nodes; each node does one thing (play, ask, look up, decide, hand
the call over) and names the node that comes next. Fields that point somewhere (another node,
a prompt, a queue, a schedule, a variable) carry a marker in their annotation, so
:func:`refs` can list every reference with its location and the loader checks them all in
one place, reporting the YAML line of each. Validation here is per node; whether references
resolve is the loader's job (``ivr_flows.checks``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr_flows.conditions import Condition, Loc
from ivr_flows.conditions import variables as condition_variables
from ivr_flows.hours import Schedule
from ivr_flows.variables import VAR_NAME, Scalar, template_vars


@dataclass(frozen=True, slots=True)
class Refers:
    """Annotation marker: this field names a ``kind`` of thing defined elsewhere."""

    kind: str


NODE, PROMPT, QUEUE, SCHEDULE = Refers("node"), Refers("prompt"), Refers("queue"), Refers("hours")
READS, WRITES = Refers("var_read"), Refers("var_write")
TEMPLATE, ASSIGN, CONDITION = Refers("template"), Refers("assign"), Refers("condition")


def _key_text(value: Any) -> Any:
    """YAML reads ``1:`` as an int; keys and digits are text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_key(value: str) -> str:
    if len(value) != 1 or value not in "0123456789*#ABCD":
        raise ValueError(f"key {value!r} must be one of 0-9, *, # or A-D")
    return value


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list | tuple) else [value]


NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")]
VarName = Annotated[str, Field(pattern=VAR_NAME)]
Key = Annotated[str, BeforeValidator(_key_text), AfterValidator(_check_key)]
QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Seconds = Annotated[float, Field(gt=0, le=600)]
Retries = Annotated[int, Field(ge=0, le=20)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptSpec(_Model):
    """A prompt id, or ``{prompt: id, slots: {name: 3 | "${var}"}}`` for numbers in it."""

    prompt: Annotated[str, PROMPT, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    slots: Annotated[dict[str, int | str], TEMPLATE] = {}

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: Any) -> Any:
        return {"prompt": data} if isinstance(data, str) else data


Prompts = Annotated[tuple[PromptSpec, ...], BeforeValidator(_as_list)]
"""One prompt or a list of them, played in order as one ``Play``."""


class _Node(_Model):
    type: str


class PlayNode(_Node):
    type: Literal["play"]
    prompts: Annotated[Prompts, Field(min_length=1)]
    barge_in: bool = True
    next: Annotated[NodeId, NODE]


class MenuOption(_Model):
    next: Annotated[NodeId, NODE]
    set: Annotated[dict[VarName, Scalar], ASSIGN] = {}

    @model_validator(mode="before")
    @classmethod
    def _bare_next(cls, data: Any) -> Any:
        return {"next": data} if isinstance(data, str) else data


class _Asks(_Node):
    """Fields shared by the nodes that wait for keys (retry and failure handling)."""

    retries: Retries = 2
    invalid_prompt: Prompts = (PromptSpec(prompt="invalid_input"),)
    timeout_prompt: Prompts = (PromptSpec(prompt="invalid_input"),)
    barge_in: bool = True


class MenuNode(_Asks):
    type: Literal["menu"]
    prompt: Annotated[Prompts, Field(min_length=1)]
    options: Annotated[dict[Key, MenuOption], Field(min_length=1)]
    timeout: Seconds = 5.0
    on_failure: Annotated[NodeId, NODE]


class CollectNode(_Asks):
    type: Literal["collect"]
    prompt: Annotated[Prompts, Field(min_length=1)]
    into: Annotated[VarName, WRITES]
    min_length: Annotated[int, Field(ge=1, le=64)] = 1
    max_length: Annotated[int, Field(ge=1, le=64)] = 16
    first_timeout: Seconds = 5.0
    inter_digit_timeout: Seconds = 3.0
    terminator: Literal["#", "*", ""] = "#"
    secure: bool = False
    on_key: Annotated[dict[Key, NodeId], NODE] = {}
    next: Annotated[NodeId, NODE]
    on_failure: Annotated[NodeId, NODE]

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length {self.min_length} is greater than max_length {self.max_length}"
            )
        for key in self.on_key:
            if key.isdigit() or key == self.terminator:
                raise ValueError(f"on_key {key!r} is a digit or the terminator; use * # or A-D")
        return self


LookupBy = Literal["customer_number", "national_id", "caller_number"]


class LookupNode(_Node):
    type: Literal["lookup"]
    by: LookupBy
    value: Annotated[VarName | None, READS] = None
    found: Annotated[NodeId, NODE]
    not_found: Annotated[NodeId, NODE]
    error: Annotated[NodeId, NODE]

    @model_validator(mode="after")
    def _needs_value(self) -> LookupNode:
        if self.by != "caller_number" and self.value is None:
            raise ValueError(f"lookup by {self.by} needs value: <variable>")
        return self


class AuthenticateNode(_Node):
    type: Literal["authenticate"]
    by: Literal["customer_number", "national_id"]
    id_var: Annotated[VarName, READS]
    pin_var: Annotated[VarName, READS]
    max_tries: Annotated[int, Field(ge=1, le=10)] = 3
    retry: Annotated[NodeId, NODE]
    on_success: Annotated[NodeId, NODE]
    on_failure: Annotated[NodeId, NODE]
    on_locked: Annotated[NodeId, NODE]
    on_error: Annotated[NodeId, NODE]
    failure_prompt: Prompts = (PromptSpec(prompt="auth_failed"),)
    locked_prompt: Prompts = (PromptSpec(prompt="account_locked"),)


class SetNode(_Node):
    type: Literal["set"]
    variables: Annotated[dict[VarName, Scalar], ASSIGN, Field(min_length=1)]
    next: Annotated[NodeId, NODE]


class BranchCase(_Model):
    when: Annotated[Condition, CONDITION]
    next: Annotated[NodeId, NODE]


class BranchNode(_Node):
    type: Literal["branch"]
    cases: Annotated[list[BranchCase], Field(min_length=1)]
    otherwise: Annotated[NodeId, NODE]


class GotoNode(_Node):
    type: Literal["goto"]
    next: Annotated[NodeId, NODE]


class HoursNode(_Node):
    type: Literal["hours"]
    schedule: Annotated[str, SCHEDULE]
    open: Annotated[NodeId, NODE]
    closed: Annotated[NodeId, NODE]


class EnqueueNode(_Node):
    type: Literal["enqueue"]
    queue: Annotated[QueueName, QUEUE]
    priority: Annotated[int | str, TEMPLATE] = 0
    skills: dict[str, Annotated[int, Field(ge=0, le=100)]] = {}
    prefer_assigned_agent: bool = False
    offer_callback_over: Annotated[float | None, Field(ge=0)] = None
    callback: Annotated[NodeId | None, NODE] = None

    @model_validator(mode="after")
    def _callback_pair(self) -> EnqueueNode:
        if (self.offer_callback_over is None) != (self.callback is None):
            raise ValueError("offer_callback_over and callback go together")
        if isinstance(self.priority, str) and not template_vars(self.priority):
            raise ValueError(f"priority {self.priority!r} must be a number or a ${{variable}}")
        return self


class TransferNode(_Node):
    type: Literal["transfer"]
    kind: Literal["agent", "number"]
    target: Annotated[str, TEMPLATE, Field(min_length=1)]
    on_error: Annotated[NodeId | None, NODE] = None


class VoiceMessageNode(_Node):
    type: Literal["voice_message"]
    agent: Annotated[str | None, TEMPLATE] = None
    queue: Annotated[QueueName | None, QUEUE] = None
    prompt: Prompts = ()
    """Played before the host's own leave_message prompt and tone (none by default)."""

    @model_validator(mode="after")
    def _one_box(self) -> VoiceMessageNode:
        if (self.agent is None) == (self.queue is None):
            raise ValueError("a voice message goes to exactly one of agent or queue")
        return self


class CallbackNode(_Asks):
    type: Literal["callback"]
    prompt: Annotated[Prompts, Field(min_length=1)] = (PromptSpec(prompt="callback_offer"),)
    decline: Annotated[NodeId, NODE]
    queue: Annotated[QueueName | None, QUEUE] = None
    number_var: Annotated[VarName | None, READS] = None
    time_var: Annotated[VarName | None, READS] = None  # HHMM the caller chose (local time)
    timeout: Seconds = 5.0
    retries: Retries = 1
    on_failure: Annotated[NodeId | None, NODE] = None
    confirm_prompt: Prompts = (PromptSpec(prompt="callback_confirmed"),)
    next: Annotated[NodeId | None, NODE] = None
    on_error: Annotated[NodeId, NODE]


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: Prompts = ()
    cause: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] = "ivr_hangup"


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | LookupNode
    | AuthenticateNode
    | SetNode
    | BranchNode
    | GotoNode
    | HoursNode
    | EnqueueNode
    | TransferNode
    | VoiceMessageNode
    | CallbackNode
    | HangupNode,
    Field(discriminator="type"),
]
WAITING_KINDS = frozenset(
    {"play", "menu", "collect", "lookup", "authenticate", "callback", "voice_message", "hangup"}
)
"""Kinds that wait for the host (a prompt, keys, an answer) or end the run."""


class Flow(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
    description: str = ""
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] = "ko"
    start: Annotated[NodeId, NODE]
    variables: Annotated[dict[VarName, Scalar], ASSIGN] = {}
    hours: dict[str, Schedule] = {}
    nodes: Annotated[dict[NodeId, Node], Field(min_length=1)]


class Ref(NamedTuple):
    """One reference: ``kind`` as in :class:`Refers` (``template_var`` for a variable inside a
    ``${...}`` template), where it is, what it names."""

    kind: str
    loc: Loc
    value: str


def refs(model: BaseModel, loc: Loc = ()) -> Iterator[Ref]:
    """Every reference in a model and its sub-models, with YAML-shaped locations."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*loc, info.alias or name)
        marker = next((m for m in info.metadata if isinstance(m, Refers)), None)
        if marker is None:
            yield from _nested(value, here)
        else:
            yield from _marked(marker.kind, value, here)


def _nested(value: Any, loc: Loc) -> Iterator[Ref]:
    if isinstance(value, BaseModel):
        yield from refs(value, loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nested(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _nested(item, (*loc, i))


def _marked(kind: str, value: Any, loc: Loc) -> Iterator[Ref]:
    if value is None:
        return
    if kind == "condition":
        for where, var in condition_variables(value, loc):
            yield Ref("var_read", where, var)
    elif kind == "assign":
        for key, item in value.items():
            yield Ref("var_write", (*loc, key), key)
            yield from _marked("template", item, (*loc, key))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _marked(kind, item, (*loc, key))
    elif kind == "template":
        if isinstance(value, str):
            for var in template_vars(value):
                yield Ref("template_var", loc, var)
    elif isinstance(value, str):
        yield Ref(kind, loc, value)
