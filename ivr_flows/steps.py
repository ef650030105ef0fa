"""Entering nodes: what each node kind does the moment the flow reaches it.

``_go`` walks from node to node until one waits (for a prompt, keys, or an answer from the
host) or ends the run. Each ``_enter_*`` returns the next node to enter at once, or ``None``
after it has set what the run now waits for. The walk is bounded: more than
``MAX_STEPS_WITHOUT_INPUT`` nodes without an input in between ends the run with ``error``
(the loader already refuses cycles of non-waiting nodes; this guards the rest).
"""

from __future__ import annotations

import datetime as dt
import math
import re

from cti_server import events as ev
from ivr_flows.collect import DigitCollector
from ivr_flows.conditions import evaluate
from ivr_flows.protocol import (
    Enqueue,
    HangUp,
    IvrAction,
    LookupCustomer,
    SecureInput,
    TakeVoiceMessage,
    TransferTo,
    VerifyPin,
)
from ivr_flows.run_state import (
    ANSWER_TIMEOUT,
    MAX_NODES_PER_RUN,
    MAX_STEPS_WITHOUT_INPUT,
    RunState,
    Then,
    Wait,
)
from ivr_flows.schema import (
    AuthenticateNode,
    BranchNode,
    CallbackNode,
    CollectNode,
    EnqueueNode,
    GotoNode,
    HangupNode,
    HoursNode,
    LookupNode,
    MenuNode,
    PlayNode,
    PromptSpec,
    SetNode,
    TransferNode,
    VoiceMessageNode,
)
from ivr_flows.variables import as_text, render_text

AnyNode = (
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
    | HangupNode
)
CALLBACK_NUMBER = re.compile(r"^\+?[0-9]{7,15}$")


class Steps(RunState):
    def _go(self, target: str | None, now: float) -> list[IvrAction]:
        actions: list[IvrAction] = []
        while target is not None and self._state is not Wait.FINISHED:
            self._steps += 1
            if self._steps > MAX_STEPS_WITHOUT_INPUT or len(self._path) >= MAX_NODES_PER_RUN:
                actions += self._end("error", HangUp(cause="ivr_loop"), now)
                break
            node = self._flow.nodes[target]
            self._node = target
            self._path.append(target)
            self._emit(
                ev.IvrNodeEntered(
                    at=now, call_id=self._call_id, flow=self._flow.name, node=target, kind=node.type
                )
            )
            target = self._enter(node, now, actions)
        return actions

    def _enter(self, node: AnyNode, now: float, actions: list[IvrAction]) -> str | None:
        match node:
            case PlayNode():
                return self._play_then(node.prompts, Then(goto=node.next), actions, node.barge_in)
            case MenuNode():
                keys = frozenset(node.options)
                return self._ask(node, DigitCollector(node.timeout, keys=keys), actions)
            case CollectNode():
                return self._enter_collect(node, actions)
            case CallbackNode():
                collector = DigitCollector(node.timeout, keys=frozenset("12"))
                return self._ask(node, collector, actions)
            case LookupNode():
                return self._enter_lookup(node, now, actions)
            case AuthenticateNode():
                return self._enter_authenticate(node, now, actions)
            case SetNode():
                for name, value in node.variables.items():
                    self._assign(name, value)
                return node.next
            case BranchNode():
                hit = (c.next for c in node.cases if evaluate(c.when, self._get))
                return next(hit, node.otherwise)
            case GotoNode():
                return node.next
            case HoursNode():
                local = dt.datetime.fromtimestamp(now, self._tz)
                return node.open if self._flow.hours[node.schedule].is_open(local) else node.closed
            case EnqueueNode():
                return self._enter_enqueue(node, now, actions)
            case TransferNode():
                target = render_text(node.target, self._get)
                if target:
                    transfer = TransferTo(kind=node.kind, target=target)
                    actions += self._end("transferred", transfer, now)
                    return None
                return self._fail(node.on_error, now, actions)
            case VoiceMessageNode():
                agent = render_text(node.agent, self._get) if node.agent is not None else ""
                if not agent and not node.queue:
                    return self._fail(None, now, actions)
                queue, language = node.queue or "", self._language
                box = TakeVoiceMessage(agent_id=agent, queue=queue, language=language)
                return self._play_then(node.prompt, Then(end=box, outcome="voice_message"), actions)
            case HangupNode():
                outcome = "callback" if self._callback_committed else "hangup"
                last = Then(end=HangUp(cause=node.cause), outcome=outcome)
                return self._play_then(node.prompt, last, actions)

    # --- waiting ---------------------------------------------------------------------------------

    def _play_then(
        self,
        prompts: tuple[PromptSpec, ...],
        then: Then,
        actions: list[IvrAction],
        barge_in: bool = True,
    ) -> str | None:
        """Play, then follow ``then`` when the prompt ends; with no prompt, follow it now."""
        if not prompts:
            if then.end is not None:
                actions += self._end(then.outcome, then.end, self._now)
            return then.goto
        actions.append(self._play(prompts, barge_in))
        self._barge_in = barge_in
        self._then = then
        self._state = Wait.PROMPT
        return None

    def _ask(
        self,
        node: MenuNode | CollectNode | CallbackNode,
        collector: DigitCollector,
        actions: list[IvrAction],
    ) -> str | None:
        collector.barge_in = node.barge_in
        self._collector = collector
        actions.append(self._play(node.prompt, node.barge_in))
        self._state = Wait.KEYS
        return None

    def _enter_collect(self, node: CollectNode, actions: list[IvrAction]) -> str | None:
        if node.secure and not self._secure_on:
            self._secure_on = True
            actions.append(SecureInput(on=True))
        collector = DigitCollector(
            node.first_timeout,
            min_length=node.min_length,
            max_length=node.max_length,
            terminator=node.terminator,
            inter_digit_timeout=node.inter_digit_timeout,
            shortcuts=frozenset(node.on_key),
        )
        return self._ask(node, collector, actions)

    def _wait_answer(self, request: str, state: Wait, now: float) -> None:
        self._request = request
        self._state = state
        self._answer_deadline = now + ANSWER_TIMEOUT

    def _enter_lookup(self, node: LookupNode, now: float, actions: list[IvrAction]) -> str | None:
        by_caller = node.by == "caller_number"
        value = self._caller if by_caller else as_text(self._get(node.value or ""))
        if not value:
            return node.not_found
        request = self._new_request_id()
        actions.append(LookupCustomer(request=request, by=node.by, value=value))
        self._wait_answer(request, Wait.LOOKUP, now)
        return None

    def _enter_authenticate(
        self, node: AuthenticateNode, now: float, actions: list[IvrAction]
    ) -> str | None:
        if self._auth_failures.get(self._node, 0) >= node.max_tries:
            return node.on_failure
        ident = as_text(self._get(node.id_var))
        pin = as_text(self._vars.pop(node.pin_var, None))  # used once, then forgotten
        self._secure_vars.discard(node.pin_var)
        if not ident or not pin:
            return self._auth_result(node, "unknown", None, now, actions)
        request = self._new_request_id()
        actions.append(VerifyPin(request=request, by=node.by, value=ident, pin=pin))
        self._wait_answer(request, Wait.AUTH, now)
        return None

    def _auth_result(
        self,
        node: AuthenticateNode,
        outcome: str,
        customer_id: str | None,
        now: float,
        actions: list[IvrAction],
    ) -> str | None:
        """Record one attempt (``customer_id`` for the audit event) and choose the branch."""
        attempt = self._auth_attempts[self._node] = self._auth_attempts.get(self._node, 0) + 1
        self._auth_outcome = outcome
        if customer_id is None and self._customer is not None:
            customer_id = self._customer.customer_id
        self._emit(
            ev.AuthenticationAttempted(
                at=now,
                call_id=self._call_id,
                method=node.by,
                outcome=outcome,
                customer_id=customer_id,
                attempt=attempt,
            )
        )
        if outcome == "ok":
            self._auth_method = f"{node.by}+pin"
            return node.on_success
        if outcome == "error":
            return node.on_error
        if outcome == "locked":
            return self._play_then(node.locked_prompt, Then(goto=node.on_locked), actions)
        failures = self._auth_failures[self._node] = self._auth_failures.get(self._node, 0) + 1
        target = node.retry if failures < node.max_tries else node.on_failure
        return self._play_then(node.failure_prompt, Then(goto=target), actions)

    def _enter_enqueue(self, node: EnqueueNode, now: float, actions: list[IvrAction]) -> str | None:
        over = node.offer_callback_over
        if node.callback is not None and over is not None and self._node not in self._offered:
            wait = self._queues.estimated_wait(node.queue)
            if wait is not None and wait >= over:
                self._offered.add(self._node)  # declining comes back here and enqueues
                self._vars["queue.name"] = node.queue
                self._vars["queue.wait_seconds"] = round(wait)
                self._vars["queue.wait_minutes"] = max(1, math.ceil(wait / 60))
                return node.callback
        customer = self._customer
        action = Enqueue(
            queue=node.queue,
            priority=self._int(node.priority),
            skills=dict(node.skills),
            customer_id=customer.customer_id if customer is not None else None,
            designated_agent=(
                customer.assigned_agent
                if customer is not None and node.prefer_assigned_agent
                else None
            ),
            language=self._language,
        )
        actions += self._end("queued", action, now)
        return None

    def _fail(self, target: str | None, now: float, actions: list[IvrAction]) -> str | None:
        """A node could not do its job at run time: its error branch, or end with ``error``."""
        if target is None:
            actions += self._end("error", HangUp(cause="ivr_error"), now)
        return target
