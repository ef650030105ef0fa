"""What the API asks of the call side for call control, callbacks, voice messages and scripts.

The router owns authentication, roles and validation; the object given as ``call_control``
owns the telephony. Each method may return its value or a Deferred of it (database work and
file reads belong in the thread pool). ``by`` is who asks: the API has already checked that
an agent acts only on live calls where they are the agent; for what it cannot see (a voice
message, a call that has ended, a disposition) the implementation checks and raises
:class:`Forbidden`. Errors are the classes below (or ``StandbyError``), each mapped to its
HTTP status; anything else is a 500. Without a ``call_control`` those routes answer 503.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from twisted.internet.defer import Deferred

from cti_server.api.router import ApiError
from cti_server.auth import Principal

T = TypeVar("T")
MaybeDeferred: TypeAlias = "T | Deferred[T]"
TransferKind = Literal["number", "queue", "agent"]


class NotFound(ApiError):
    def __init__(self, detail: str, code: str = "not_found") -> None:
        super().__init__(404, code, detail)


class Forbidden(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "forbidden", detail)


class Conflict(ApiError):
    """The request is not allowed in the current state (hold an unanswered call...)."""

    def __init__(self, detail: str, code: str = "wrong_state") -> None:
        super().__init__(409, code, detail)


class Invalid(ApiError):
    def __init__(self, detail: str, code: str = "bad_request") -> None:
        super().__init__(400, code, detail)


class Unavailable(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "unavailable", detail)


class CallControl(Protocol):
    """Implemented by the lead (the call controller's side); see the module docstring."""

    def hangup(self, call_id: str, by: Principal) -> MaybeDeferred[None]: ...

    def hold(self, call_id: str, by: Principal) -> MaybeDeferred[None]: ...

    def unhold(self, call_id: str, by: Principal) -> MaybeDeferred[None]: ...

    def transfer(
        self, call_id: str, kind: TransferKind, target: str, by: Principal
    ) -> MaybeDeferred[None]: ...

    def dial(
        self, agent_id: str, number: str, customer_id: str | None, by: Principal
    ) -> MaybeDeferred[str]:
        """Ring ``agent_id``'s phone, then ``number``; the new call's id."""
        ...

    def disposition(
        self,
        call_id: str,
        by: Principal,
        disposition: str,
        notes: str,
        script_answers: dict[str, Any],
    ) -> MaybeDeferred[None]: ...

    def callbacks(self, status: str | None, by: Principal) -> MaybeDeferred[list[dict[str, Any]]]:
        """Rows ``{id, number, queue, due_at (ISO), status, attempts, customer_id}``."""
        ...

    def voicemail(self, by: Principal) -> MaybeDeferred[list[dict[str, Any]]]:
        """``by``'s messages (supervisors: all): ``{id, caller, queue, created_at (ISO),
        duration (s), done}``."""
        ...

    def voicemail_audio(self, message_id: str, by: Principal) -> MaybeDeferred[bytes]:
        """The message as a WAV file."""
        ...

    def voicemail_done(self, message_id: str, by: Principal) -> MaybeDeferred[None]: ...

    def script(self, name: str, by: Principal) -> MaybeDeferred[dict[str, Any] | None]:
        """A script tree by name; None when there is none."""
        ...

    def script_for_call(self, call_id: str) -> dict[str, Any] | None:
        """The script tree the agent follows on a live call (its queue's), or None; called
        on the reactor thread, so it must not block."""
        ...
