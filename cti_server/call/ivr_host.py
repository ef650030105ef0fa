"""The controller's side of an IVR flow: it answers the caller, then obeys the flow's run.

Theory of operation: a route to ``flow:NAME`` answers the caller ourselves and starts an
``IvrRun`` (``ivr_flows.engine``). Key presses and the end of each prompt go into the run;
what it asks for comes back as IVR actions: prompts are turned into 20 ms frames on the
caller's leg, slow work (customer lookup, PIN check, callback commit) leaves as a
``ServiceRequest`` whose answer returns through ``service_done``, and the run's last action
hands the call on: to a queue, an agent or number, a voice message, or a hang-up. While the
flow collects a PIN or national ID (``SecureInput``) the digits are masked in every event.
"""

from __future__ import annotations

from cti_server import events as ev
from cti_server.actions import LegAction, RespondLeg
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, LegInput
from cti_server.call.services import (
    IvrFactory,
    IvrRunLike,
    ScreenPopLoaded,
    ServiceRequest,
    ServiceResult,
)
from ivr_flows.protocol import (
    CallbackFinished,
    Enqueue,
    HangUp,
    IvrAction,
    IvrInput,
    LookupCustomer,
    Play,
    PromptFinished,
    RequestCallback,
    SecureInput,
    StopPlaying,
    TakeVoiceMessage,
    TransferTo,
    VerifyPin,
)

MAX_STEPS = 500  # actions one input may cause before the run is judged to be looping


class IvrHost(ControllerBase):
    """Base of the CallController for calls an IVR flow holds. State lives in the controller."""

    _ivr_factory: IvrFactory | None
    _requests: list[ServiceRequest]

    def drain_requests(self) -> list[ServiceRequest]:
        out, self._requests = self._requests, []
        return out

    def service_done(self, call_id: str, result: ServiceResult, now: float) -> list[LegAction]:
        """The answer to a ``ServiceRequest`` (from the thread pool): back into the call."""
        call = self.calls.get(call_id)
        if call is None:
            return self._take_pending()
        if isinstance(result, ScreenPopLoaded):
            if result.payload is not None:
                call.screen_pop = dict(result.payload)
            return self._take_pending()
        if isinstance(result, CallbackFinished) and result.callback_id:
            self._events.append(
                ev.CallbackRequested(
                    at=now,
                    call_id=call_id,
                    callback_id=result.callback_id,
                    number=result.number,
                    queue=result.queue,
                    customer_id=result.customer_id or call.customer_id,
                )
            )
        if call.ivr is not None:
            call.ivr_waiting_service = False
            return self._ivr_input(call, result, now) + self._take_pending()
        return self._queue_service_done(call, result, now) + self._take_pending()

    # --- starting a flow ------------------------------------------------------------------

    def _start_flow(self, call: Call, flow: str, now: float) -> list[LegAction] | None:
        """Answer the caller and start ``flow``; None when it cannot run (no such flow,
        no anchored media or prompts): the caller then gets a 503."""
        plan, factory = self._plan, self._ivr_factory
        inbound = call.inbound
        if plan is None or factory is None or self._prompts is None:
            return None
        if not plan.has_offer(inbound.leg_id):
            return None
        run = factory(flow, call_id=call.call_id, caller=call.caller, called=call.called, now=now)
        if run is None:
            return None
        call.ivr = run
        call.phase = CallPhase.IVR
        inbound.apply(LegInput.ANSWER, now)
        answer: list[LegAction] = [
            RespondLeg(leg_id=inbound.leg_id, status=200, sdp=plan.make_answer(inbound.leg_id))
        ]
        plan.media.collect_digits(inbound.leg_id, True)
        return answer + self._drive(call, run, run.start(now), now)

    # --- feeding the run ------------------------------------------------------------------

    def _ivr_input(self, call: Call, item: IvrInput, now: float) -> list[LegAction]:
        run: IvrRunLike | None = call.ivr
        if run is None:
            return []
        if isinstance(item, PromptFinished):
            if not call.ivr_playing:
                return []  # the end of audio the run already heard about (cut)
            call.ivr_playing = False
        return self._drive(call, run, run.handle(item, now), now)

    def _ivr_timer(self, call: Call, now: float) -> list[LegAction]:
        run: IvrRunLike | None = call.ivr
        if run is None:
            return []
        due = run.next_deadline()
        if due is None or due > now:
            return []
        return self._drive(call, run, run.on_timer(now), now)

    def _drive(
        self, call: Call, run: IvrRunLike, actions: list[IvrAction], now: float
    ) -> list[LegAction]:
        out: list[LegAction] = []
        pending = list(actions)
        steps = 0
        while pending:
            steps += 1
            if steps > MAX_STEPS:
                self._events.extend(run.drain_events())
                call.ivr = None
                return out + self._clear(call, now, "ivr_error", call.inbound, bye_ended=True)
            action = pending.pop(0)
            self._events.extend(run.drain_events())  # what the run did comes first
            # Every Play is owed exactly one PromptFinished: when it ends, when it is cut
            # (StopPlaying, or replaced by the next Play), or at once if there is no audio.
            if isinstance(action, Play):
                owed = call.ivr_playing
                parts = [(ref.prompt, ref.slots) for ref in action.prompts]
                playing = self._play_to_caller(call, parts, action.language, now)
                call.ivr_playing = playing or owed
                if not call.ivr_playing or owed:
                    pending += run.handle(PromptFinished(), now)
            elif isinstance(action, StopPlaying):
                if call.ivr_playing:
                    call.ivr_playing = False
                    self._stop_prompt(call)
                    pending += run.handle(PromptFinished(), now)
            elif isinstance(action, SecureInput):
                call.secure_input = action.on
            elif isinstance(action, LookupCustomer | VerifyPin | RequestCallback):
                call.ivr_waiting_service = True
                self._requests.append(ServiceRequest(call_id=call.call_id, work=action))
            else:
                self._events.extend(run.drain_events())
                call.ivr = None
                call.ivr_playing = False
                call.secure_input = False
                call.language = run.language
                if run.customer is not None:
                    call.customer_id = run.customer.customer_id
                call.auth_method = run.auth_method
                return out + self._leave_flow(call, action, now)
        self._events.extend(run.drain_events())
        call.language = run.language
        self._schedule(call)
        return out

    def _leave_flow(self, call: Call, action: IvrAction, now: float) -> list[LegAction]:
        """The run's last action: the call leaves the IVR for a queue, a person or voice mail."""
        self._stop_prompt(call)
        language = call.language or self._settings.language
        if isinstance(action, Enqueue):
            return self._enqueue(call, action, now)
        if isinstance(action, TransferTo):
            return self._transfer_from_ivr(call, action, now)
        if isinstance(action, TakeVoiceMessage):
            done = self._voicemail(call, action.agent_id, language, now, queue=action.queue)
            if done is not None:
                return done
        cause = action.cause if isinstance(action, HangUp) else "ivr_hangup"
        return self._clear(call, now, cause, call.inbound, bye_ended=True)

    def _transfer_from_ivr(self, call: Call, action: TransferTo, now: float) -> list[LegAction]:
        if action.kind == "agent":
            uris = self._locate(action.target, now)
            agent: str | None = action.target
        else:
            target = self._router.route(action.target, from_trunk=None, authenticated=True)
            uris = self._target_uris(target, now) if target is not None else []
            agent = None
        if not uris:
            language = call.language or self._settings.language
            if agent is not None:
                done = self._voicemail(call, agent, language, now)
                if done is not None:
                    return done
            return self._clear(call, now, "unavailable", call.inbound, bye_ended=True)
        call.phase = CallPhase.ROUTING
        codec = self._plan.codec(call.inbound.leg_id) if self._plan is not None else None
        return self._originate(call, uris, call.caller, None, b"", 69, agent, now, prefer=codec)

    # --- prompts --------------------------------------------------------------------------

    def _stop_prompt(self, call: Call) -> None:
        if self._plan is not None and call.inbound.alive:
            self._plan.media.stop_playing(call.inbound.leg_id)
