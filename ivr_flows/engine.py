"""One caller's walk through an IVR flow, sans-IO: inputs and ``now`` in, actions out.

Theory of operation. ``start`` enters the flow's start node; the run then walks node to node
(``steps``) until a node waits. What it waits for is its state (``Wait``); the table
``_HANDLERS`` maps (state, input type) to the method that handles it, and any pair not in the
table is ignored and counted in ``ignored`` (a stale answer, a key during a lookup), so the
host can never crash a run with a late message. ``CallerHungUp`` ends any live run.

Prompts and keys. Every ``Play`` is answered by exactly one ``PromptFinished`` (also when it
was cut by ``StopPlaying`` or a key); the run counts the Plays it is owed an answer for, so a
cut prompt's late ``PromptFinished`` is not taken for the end of the prompt that replaced it.
The first-key timer of a menu or collect starts when its prompt ends; a key during a
barge-in prompt counts as the first key and the run sends ``StopPlaying``. Retries play the
invalid or timeout prompt and then the node's prompt again, as one ``Play``.

Answers. A lookup, PIN check or callback commit is an action with a request id; only the
answer with the current id is taken, and after ``ANSWER_TIMEOUT`` the error branch is.
``CallbackRequested`` is the host's to emit (it holds the committed answer). The run ends
(``finished``) with ``Enqueue``, ``TransferTo``, ``TakeVoiceMessage`` or
``HangUp``, after emitting ``IvrEnded`` with the outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from cti_server import events as ev
from ivr_flows.collect import KEYS, Result
from ivr_flows.protocol import (
    AuthFinished,
    CallbackFinished,
    CallerHungUp,
    CustomerView,
    DigitPressed,
    HangUp,
    IvrAction,
    IvrInput,
    LookupFinished,
    PromptFinished,
    RequestCallback,
    SecureInput,
    StopPlaying,
)
from ivr_flows.run_state import IllegalIvrTransition, Then, Wait
from ivr_flows.schema import AuthenticateNode, CallbackNode, CollectNode, LookupNode, MenuNode
from ivr_flows.steps import CALLBACK_NUMBER, Steps
from ivr_flows.variables import as_text

__all__ = ["IllegalIvrTransition", "IvrRun", "Wait"]


class IvrRun(Steps):
    """The flow engine for one call (constructor in ``RunState``)."""

    def start(self, now: float) -> list[IvrAction]:
        if self._state is not Wait.NOT_STARTED:
            raise IllegalIvrTransition(self._state, "start")
        self._now = now
        self._state = Wait.PROMPT  # placeholder until the first node says what it waits for
        self._emit(
            ev.IvrStarted(
                at=now, call_id=self._call_id, flow=self._flow.name, language=self._language
            )
        )
        return self._go(self._flow.start, now)

    def handle(self, event: IvrInput, now: float) -> list[IvrAction]:
        if self._state in (Wait.NOT_STARTED, Wait.FINISHED):
            self.ignored += 1
            return []
        self._now = now
        self._steps = 0
        if isinstance(event, CallerHungUp):
            self._end("caller_hangup", None, now)
            return []
        if isinstance(event, PromptFinished):
            if self._playing == 0:
                self.ignored += 1
                return []
            self._playing -= 1
            if self._playing:
                return []  # the end of a prompt that was cut and replaced
        handler = _HANDLERS.get((self._state, type(event)))
        if handler is None:
            self.ignored += 1
            return []
        return handler(self, event, now)

    def next_deadline(self) -> float | None:
        if self._state is Wait.KEYS and self._collector is not None:
            return self._collector.deadline
        if self._state in (Wait.LOOKUP, Wait.AUTH, Wait.CALLBACK):
            return self._answer_deadline
        return None

    def on_timer(self, now: float) -> list[IvrAction]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        self._now = now
        self._steps = 0
        if self._state is Wait.KEYS and self._collector is not None:
            self._collector.deadline = None
            return self._keys_result(self._collector.timed_out(), now)
        node = self._flow.nodes[self._node]
        self._request = None
        self._answer_deadline = None
        if isinstance(node, LookupNode):
            return self._go(node.error, now)
        if isinstance(node, AuthenticateNode):
            actions: list[IvrAction] = []
            target = self._auth_result(node, "error", None, now, actions)
            return actions + self._go(target, now)
        if isinstance(node, CallbackNode):
            return self._go(node.on_error, now)
        return []

    # --- a prompt that moves the flow on -------------------------------------------------------

    def _prompt_done(self, _: PromptFinished, now: float) -> list[IvrAction]:
        return self._follow(now)

    def _prompt_key(self, event: DigitPressed, now: float) -> list[IvrAction]:
        if not self._barge_in or event.digit not in KEYS:
            self.ignored += 1
            return []
        return [StopPlaying(), *self._follow(now)]

    def _follow(self, now: float) -> list[IvrAction]:
        then, self._then = self._then, None
        if then is None:
            return []
        if then.end is not None:
            return self._end(then.outcome, then.end, now)
        return self._go(then.goto, now)

    # --- keys ----------------------------------------------------------------------------------

    def _keys_prompt_done(self, _: PromptFinished, now: float) -> list[IvrAction]:
        if self._collector is not None:
            self._collector.prompt_ended(now)
        return []

    def _keys_key(self, event: DigitPressed, now: float) -> list[IvrAction]:
        collector = self._collector
        if collector is None or event.digit not in KEYS or not collector.accepts_key_now():
            self.ignored += 1
            return []
        actions: list[IvrAction] = [StopPlaying()] if collector.prompt_playing else []
        result = collector.key(event.digit, now)
        if result is not None:
            actions += self._keys_result(result, now)
        return actions

    def _keys_result(self, result: Result, now: float) -> list[IvrAction]:
        node = self._flow.nodes[self._node]
        collector = self._collector
        if collector is None or not isinstance(node, MenuNode | CollectNode | CallbackNode):
            return []
        if result.kind in ("invalid", "timeout"):
            if collector.attempt < node.retries:
                collector.restart()
                sorry = node.invalid_prompt if result.kind == "invalid" else node.timeout_prompt
                return [self._play(sorry + node.prompt, node.barge_in)]
            if isinstance(node, CallbackNode):
                return self._leave_keys(node.on_failure or node.decline, now)
            return self._leave_keys(node.on_failure, now)
        if isinstance(node, MenuNode):
            option = node.options[result.value]
            for name, value in option.set.items():
                self._assign(name, value)
            return self._leave_keys(option.next, now)
        if isinstance(node, CollectNode):
            if result.kind == "shortcut":
                return self._leave_keys(node.on_key[result.value], now)
            self._vars[node.into] = result.value
            if node.secure:
                self._secure_vars.add(node.into)
            return self._leave_keys(node.next, now)
        if result.value == "2":
            return self._leave_keys(node.decline, now)
        return self._accept_callback(node, now)

    def _leave_keys(self, target: str | None, now: float) -> list[IvrAction]:
        """Go on from a key-gathering node. Masking stays on (no off/on flicker) when the
        walk ends in another secure collect, e.g. national ID then PIN."""
        if self._collector is not None:
            self._collector.clear()
        self._collector = None
        actions = self._go(target, now)
        node = self._flow.nodes[self._node]
        still_secure = self._state is Wait.KEYS and isinstance(node, CollectNode) and node.secure
        if self._secure_on and not still_secure:
            self._secure_on = False
            actions.insert(0, SecureInput(on=False))
        return actions

    # --- answers from the host -----------------------------------------------------------------

    def _current_request(self, request: str) -> bool:
        if request != self._request:
            self.ignored += 1
            return False
        self._request = None
        self._answer_deadline = None
        return True

    def _lookup_done(self, event: LookupFinished, now: float) -> list[IvrAction]:
        node = self._flow.nodes[self._node]
        if not self._current_request(event.request) or not isinstance(node, LookupNode):
            return []
        if event.error:
            return self._go(node.error, now)
        if event.customer is None:
            return self._go(node.not_found, now)
        self._identify(event.customer, node.by, now)
        return self._go(node.found, now)

    def _auth_done(self, event: AuthFinished, now: float) -> list[IvrAction]:
        node = self._flow.nodes[self._node]
        if not self._current_request(event.request) or not isinstance(node, AuthenticateNode):
            return []
        found = event.customer
        if event.outcome == "ok" and found is not None:
            self._identify(found, node.by, now)
        customer_id = found.customer_id if found is not None else None
        actions: list[IvrAction] = []
        target = self._auth_result(node, event.outcome, customer_id, now, actions)
        return actions + self._go(target, now)

    def _identify(self, customer: CustomerView, method: str, now: float) -> None:
        if self._customer is None or self._customer.customer_id != customer.customer_id:
            self._emit(
                ev.CustomerIdentified(
                    at=now, call_id=self._call_id, customer_id=customer.customer_id, method=method
                )
            )
        self._customer = customer

    # --- callback ------------------------------------------------------------------------------

    def _accept_callback(self, node: CallbackNode, now: float) -> list[IvrAction]:
        self._collector = None
        number = as_text(self._get(node.number_var)) if node.number_var else self._caller
        queue = node.queue or as_text(self._get("queue.name"))
        if not CALLBACK_NUMBER.match(number) or not queue:
            return self._go(node.on_error, now)
        due_at = None
        if node.time_var is not None:
            due_at = chosen_time(as_text(self._get(node.time_var)), now, self._tz)
            if due_at is None:  # not a time of day: the flow's error branch says so
                return self._go(node.on_error, now)
        request = self._new_request_id()
        customer_id = self._customer.customer_id if self._customer is not None else None
        self._wait_answer(request, Wait.CALLBACK, now)
        return [
            RequestCallback(
                request=request,
                number=number,
                queue=queue,
                customer_id=customer_id,
                due_at=due_at,
            )
        ]

    def _callback_done(self, event: CallbackFinished, now: float) -> list[IvrAction]:
        node = self._flow.nodes[self._node]
        if not self._current_request(event.request) or not isinstance(node, CallbackNode):
            return []
        if event.error or not event.callback_id:
            return self._go(node.on_error, now)
        self._callback_committed = True  # the host emits CallbackRequested with the answer
        then = Then(goto=node.next)
        if node.next is None:
            then = Then(end=HangUp(cause="callback_requested"), outcome="callback")
        actions: list[IvrAction] = []
        target = self._play_then(node.confirm_prompt, then, actions)
        return actions + self._go(target, now)


def chosen_time(hhmm: str, now: float, tz: dt.tzinfo) -> float | None:
    """The next moment at ``hhmm`` (four digits, local time in ``tz``) after ``now``; None
    when the digits are not a time of day. A time already past today means tomorrow."""
    if len(hhmm) != 4 or not hhmm.isdigit():
        return None
    hour, minute = int(hhmm[:2]), int(hhmm[2:])
    if hour > 23 or minute > 59:
        return None
    local = dt.datetime.fromtimestamp(now, tz)
    when = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if when.timestamp() <= now:
        when = (local + dt.timedelta(days=1)).replace(hour=hour, minute=minute, second=0)
        when = when.replace(microsecond=0)
    return when.timestamp()


_Handler = Callable[[IvrRun, Any, float], list[IvrAction]]
_HANDLERS: Final[dict[tuple[Wait, type[Any]], _Handler]] = {
    (Wait.PROMPT, PromptFinished): IvrRun._prompt_done,
    (Wait.PROMPT, DigitPressed): IvrRun._prompt_key,
    (Wait.KEYS, PromptFinished): IvrRun._keys_prompt_done,
    (Wait.KEYS, DigitPressed): IvrRun._keys_key,
    (Wait.LOOKUP, LookupFinished): IvrRun._lookup_done,
    (Wait.AUTH, AuthFinished): IvrRun._auth_done,
    (Wait.CALLBACK, CallbackFinished): IvrRun._callback_done,
}
"""Which input each wait state takes (CallerHungUp is taken in every live state)."""
