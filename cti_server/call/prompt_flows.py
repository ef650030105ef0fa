"""What a caller hears from the server itself: announcements and voice mail (anchored only).

Announcement: the caller is answered by us, hears a prompt (a key press skips it), and only
then does the target ring. Voice mail: when an extension with ``voicemail`` cannot take the
call (no registration, busy, no answer), the caller is answered if needed, hears
"leave a message", and what they say is recorded as a mono voice message addressed to that
agent until they hang up or ``voice_message_max`` passes. The recording itself is the
recorder's job: it reacts to ``VoiceMessageStarted`` and ``CallCleared`` on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cti_server import events as ev
from cti_server.actions import LegAction, RespondLeg
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, LegInput, NextHop
from cti_server.call.routing import RouteTarget
from cti_server.rtp.bridge import DigitReceived, MediaEvent, MediaTimedOut, PlayFinished
from ivr_flows.protocol import DigitPressed, PromptFinished

LEAVE_MESSAGE = "leave_message"


class PromptFlows(ControllerBase):
    """Base of the CallController for prompt-driven phases. State lives in the controller."""

    def handle_media(self, event: MediaEvent, now: float) -> list[LegAction]:
        return self._handle_media(event, now) + self._take_pending()

    def _handle_media(self, event: MediaEvent, now: float) -> list[LegAction]:
        found = self._legs.get(event.leg_id)
        if found is None:
            return []
        leg, call = found
        if isinstance(event, MediaTimedOut) and call.phase in (
            CallPhase.CONNECTED,
            CallPhase.VOICEMAIL,
            CallPhase.IVR,
            CallPhase.QUEUED,
        ):
            return self._clear(call, now, "media_timeout", ended=leg, bye_ended=True)
        if isinstance(event, DigitReceived):
            secure = call.secure_input and leg is call.inbound
            self._events.append(
                ev.DtmfReceived(
                    at=now,
                    call_id=call.call_id,
                    leg_id=leg.leg_id,
                    digit="" if secure else event.digit,
                    secure=secure,
                )
            )
            if leg is not call.inbound:
                return []
            if call.phase is CallPhase.IVR:
                return self._ivr_input(call, DigitPressed(digit=event.digit), now)
            if call.phase is CallPhase.ANNOUNCING and self._plan is not None:
                self._plan.media.stop_playing(leg.leg_id)  # barge-in: a key skips the prompt
                return self._after_announcement(call, now, barged_in=True)
            if (
                call.phase is CallPhase.VOICEMAIL
                and call.voicemail_deadline is not None
                and event.digit == "#"
            ):  # "press the hash key when you have finished"
                return self._clear(call, now, "voice_message", ended=leg, bye_ended=True)
        if isinstance(event, PlayFinished) and leg is call.inbound:
            if call.phase is CallPhase.IVR:
                return self._ivr_input(call, PromptFinished(), now)
            if call.after_prompt is not None:
                return self._queue_prompt_done(call, now)
            if call.phase is CallPhase.ANNOUNCING:
                return self._after_announcement(call, now, barged_in=False)
            if call.phase is CallPhase.VOICEMAIL and call.voicemail_deadline is None:
                return self._start_voice_message(call, now)
        return []

    # --- announcements --------------------------------------------------------------------

    def _announce(
        self, call: Call, target: RouteTarget, hop: NextHop, now: float
    ) -> list[LegAction] | None:
        """Answer the caller ourselves and play ``target.announce``; None if we cannot."""
        language = target.language or self._language()
        answered = self._answer_and_play(call, target.announce or "", language, now)
        if answered is None:
            return None
        call.next_hop = hop
        call.phase = CallPhase.ANNOUNCING
        call.announcement = target.announce
        assert self._plan is not None
        self._plan.media.collect_digits(call.inbound.leg_id, True)
        return answered

    def _after_announcement(self, call: Call, now: float, *, barged_in: bool) -> list[LegAction]:
        hop, call.next_hop = call.next_hop, None
        if hop is None:
            return []
        self._events.append(
            ev.PromptEnded(
                at=now,
                call_id=call.call_id,
                leg_id=call.inbound.leg_id,
                prompt=call.announcement or "",
                barged_in=barged_in,
            )
        )
        call.phase = CallPhase.ROUTING
        return self._originate(
            call,
            list(hop.uris),
            hop.caller,
            hop.display,
            b"",
            hop.max_forwards,
            hop.agent,
            now,
            prefer=hop.codec,
        )

    # --- voice mail -----------------------------------------------------------------------

    def _voicemail(
        self, call: Call, agent: str | None, language: str | None, now: float, *, queue: str = ""
    ) -> list[LegAction] | None:
        """Send the caller to ``agent``'s (or ``queue``'s) voice mail; None when it is not
        possible."""
        if (agent is None and not queue) or call.phase is CallPhase.VOICEMAIL:
            return None
        if (
            self._plan is not None
            and call.inbound.alive
            and self._plan.has_offer(call.inbound.leg_id)
        ):
            self._plan.media.collect_digits(call.inbound.leg_id, True)  # '#' ends the message
        actions = self._answer_and_play(call, LEAVE_MESSAGE, language or self._language(), now)
        if actions is None:
            return None
        call.phase = CallPhase.VOICEMAIL
        call.voicemail_for = agent or ""
        call.voicemail_queue = queue
        call.peer = None  # nobody else is on the call any more
        return actions

    def _start_voice_message(self, call: Call, now: float) -> list[LegAction]:
        limit = self._settings.voice_message_max
        call.voicemail_deadline = now + limit
        self._schedule(call)
        self._events.append(
            ev.VoiceMessageStarted(
                at=now,
                call_id=call.call_id,
                leg_id=call.inbound.leg_id,
                agent_id=call.voicemail_for or "",
                max_seconds=limit,
                queue=call.voicemail_queue,
            )
        )
        return []

    def _voicemail_due(self, call: Call, now: float) -> list[LegAction]:
        """The message reached its maximum length: hang up (the recorder closes the file)."""
        call.voicemail_deadline = None
        return self._clear(call, now, "voice_message", ended=call.inbound, bye_ended=True)

    # --- shared ---------------------------------------------------------------------------

    def _answer_and_play(
        self, call: Call, prompt: str, language: str, now: float
    ) -> list[LegAction] | None:
        plan = self._plan
        inbound = call.inbound
        if plan is None or not plan.has_offer(inbound.leg_id):
            return None
        if not self._play_to_caller(call, [(prompt, {})], language, now):
            return None
        if inbound.up:
            return []
        inbound.apply(LegInput.ANSWER, now)
        return [RespondLeg(leg_id=inbound.leg_id, status=200, sdp=plan.make_answer(inbound.leg_id))]

    def _play_to_caller(
        self, call: Call, parts: Sequence[tuple[str, Mapping[str, int]]], language: str, now: float
    ) -> bool:
        """Replace what the caller hears with these prompts (with their number slots), one
        ``PromptStarted`` per prompt that has audio; False when none has (nothing changes)."""
        plan, prompts = self._plan, self._prompts
        leg = call.inbound
        if plan is None or prompts is None or not leg.alive:
            return False
        codec = plan.codec(leg.leg_id) or "PCMU"
        frames: list[bytes] = []
        for prompt, slots in parts:
            clip = prompts.frames(prompt, language, codec, **slots)
            if clip:
                frames += clip
                self._events.append(
                    ev.PromptStarted(
                        at=now,
                        call_id=call.call_id,
                        leg_id=leg.leg_id,
                        prompt=prompt,
                        language=language,
                    )
                )
        if not frames:
            return False
        plan.media.stop_playing(leg.leg_id)
        plan.media.play(leg.leg_id, frames)
        return True

    def _language(self) -> str:
        return self._settings.language
