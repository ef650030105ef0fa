"""Request and answer models of the REST API (docs/API contract, issue 7).

Requests forbid unknown fields and are validated strictly (no "1" for 1), so a typo is a 400
naming the field, not a silent default. Answers list every field the server sends; the few
documents whose inside belongs to another module (health, a screen pop, a script tree, a
statistics row) allow more fields than they name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AgentStateName = Literal["logged_out", "ready", "not_ready", "reserved", "busy", "wrap_up", "away"]
RoleName = Literal["agent", "supervisor", "admin"]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Out(BaseModel):
    """An answer: fields the model does not name are dropped, never sent undocumented."""

    model_config = ConfigDict(extra="ignore")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(Out):
    error: str = Field(description="machine-readable code, e.g. bad_state, forbidden")
    detail: str = Field(description="what was wrong, for people")


class Ok(Out):
    ok: Literal[True] = True


# --- auth --------------------------------------------------------------------------------------


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(Out):
    username: str
    display_name: str
    role: RoleName
    agent_id: str | None
    language: Literal["ko", "en"]


class LoginOut(Out):
    token: str = Field(description="send as Authorization: Bearer <token>")
    expires_at: str = Field(description="ISO 8601 UTC")
    user: UserOut


class HealthOut(Open):
    status: str


class HaOut(Open):
    node: str
    role: str = Field(description="leader or standby")
    token: int | None = Field(description="the fencing token this node leads with")


# --- agents and queues -----------------------------------------------------------------------


class AgentOut(Out):
    id: str
    name: str
    state: AgentStateName
    reason: str
    by: str = Field(description="who set the state: empty for the agent or the system")
    since: str = Field(description="ISO 8601 UTC")
    call_id: str | None
    queues: list[str]
    handled: int = Field(description="calls handled since the server started")
    remote: bool
    pending: str | None
    pending_reason: str
    idle_since: str | None
    calls_handled: int
    talk_time: float
    average_handle_time: float | None
    offers: int
    offers_answered: int
    answer_rate: float


class AgentsOut(Out):
    agents: list[AgentOut]


class StateIn(In):
    state: Literal["ready", "not_ready", "away", "logged_in", "logged_out", "wrap_up_done"]
    reason: str = Field("", max_length=64, description="not-ready reason code, e.g. lunch")


class AgentLogoutIn(In):
    reason: str = Field("", max_length=64)


class QueueOut(Out):
    name: str
    queue: str
    waiting: int
    offered: int
    longest_wait: float
    logged_in: int
    ready: int
    reserved: int
    busy: int
    wrap_up: int
    not_ready: int
    away: int
    average_handle_time: float | None
    estimated_wait: float | None
    agents_logged_in: int
    agents_ready: int


class QueuesOut(Out):
    queues: list[QueueOut]


class WallboardQueue(QueueOut):
    answered: int | None = Field(description="today; null when the records are unavailable")
    abandoned: int | None
    service_level: float | None = Field(description="0..1 today; null without calls")


class WallboardAgent(AgentOut):
    handled_today: int | None
    aht: float | None = Field(description="average handle time today, seconds")


class WallboardOut(Out):
    queues: list[WallboardQueue]
    agents: list[WallboardAgent]
    states: dict[str, int] = Field(description="agents per state")
    at: str


class FlowsOut(Out):
    flows: list[str]


# --- calls -----------------------------------------------------------------------------------


class CallOut(Out):
    id: str
    call_id: str
    state: str = Field(description="routing, ivr, queued, alerting, connected, ...")
    phase: str
    caller: str
    callee: str
    called: str
    queue: str | None
    agent_id: str | None
    offered_to: list[str]
    customer_id: str | None
    auth_method: str | None
    language: str | None
    started_at: str
    answered_at: str | None
    on_hold: bool


class ScreenPopOut(Open):
    customer: dict[str, Any]
    history: list[dict[str, Any]]
    payment_method: dict[str, Any] | None
    frequent_products: list[dict[str, Any]]
    auth_method: str | None


class CallDetailOut(CallOut):
    screen_pop: ScreenPopOut | None
    script: dict[str, Any] | None


class CallsOut(Out):
    calls: list[CallOut]


class RecordingIn(In):
    action: Literal["start", "stop", "pause", "resume"]


class RecordingStateOut(Out):
    call_id: str
    state: str
    recording_id: str | None


class TransferIn(In):
    kind: Literal["number", "queue", "agent"]
    target: str = Field(min_length=1, max_length=64)


class DialIn(In):
    number: str = Field(
        pattern=r"^\+?[0-9*#][0-9*# ().-]{0,39}$",
        description="digits; dashes, spaces and brackets are ignored",
    )
    customer_id: str | None = Field(None, max_length=64)
    agent_id: str | None = Field(
        None, max_length=64, description="supervisors: whose phone rings (default: your own)"
    )


class DialOut(Out):
    call_id: str


class DispositionIn(In):
    disposition: str = Field(min_length=1, max_length=64)
    notes: str = Field("", max_length=4000)
    script_answers: dict[str, str | int | float | bool] = Field(default_factory=dict)


# --- callbacks, voice messages, scripts --------------------------------------------------------


class CallbacksQuery(Query):
    status: Literal["pending", "dialing", "done", "failed", "cancelled"] | None = None


class CallbackOut(Open):
    id: str
    number: str
    queue: str | None
    due_at: str | None
    status: str
    attempts: int
    customer_id: str | None


class CallbacksOut(Out):
    callbacks: list[CallbackOut]


class VoiceMessageOut(Open):
    id: str
    caller: str | None
    queue: str | None
    created_at: str
    duration: float
    done: bool


class VoicemailOut(Out):
    messages: list[VoiceMessageOut]


class ScriptOut(Open):
    """An agent script tree (``cti_server.crm.scripts``), passed through as it is."""


# --- recordings and statistics ----------------------------------------------------------------


class RecordingsQuery(Query):
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    customer_id: str | None = None
    kind: Literal["call", "voice_message"] | None = None
    since: AwareDatetime | None = Field(None, description="ISO 8601 with an offset")
    until: AwareDatetime | None = None
    limit: int = Field(100, ge=1, le=1000)


class RecordingOut(Out):
    id: str
    call_id: str
    agent_id: str | None
    queue: str | None
    customer_id: str | None
    kind: str
    started_at: str
    ended_at: str | None
    duration_s: float
    path: str
    sha256: str | None
    bytes: int
    status: str


class RecordingsOut(Out):
    recordings: list[RecordingOut]


class StatsQuery(Query):
    from_: str = Field(alias="from", description="2026-12-01, 2026-12, 2026 or an ISO time")
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")
    by: Literal["day", "month", "year", "hour", "agent", "queue"] = "day"
    sl: float | None = Field(None, ge=0, le=86400, description="service level seconds")
    short_abandon: float | None = Field(None, ge=0, le=86400)


class StatsOut(Open):
    by: str
    tz: str
    rows: list[dict[str, Any]]
    total: dict[str, Any]
