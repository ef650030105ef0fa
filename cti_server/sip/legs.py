"""The user-agent half of the B2BUA: one SIP dialog per call leg, in both directions.

Theory of operation: an inbound leg is born from an INVITE server transaction and answered
through it; an outbound leg is an INVITE client transaction plus the dialog its 1xx/2xx
creates. Everything in a dialog after that (ACK, BYE, re-INVITE, REFER/NOTIFY, OPTIONS
probes, CANCEL) is handled here and reported upward as ``leg_events``; the controller
answers with ``actions`` that ``execute`` turns back into SIP. Requests inside a dialog go to
the address the peer last sent from (symmetric routing: pyVoIP and NATed phones only listen
there); the Request-URI is the peer's Contact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti_server import actions as act
from cti_server.ids import IdFactory
from cti_server.sip import leg_events as le
from cti_server.sip.dialog import Dialog
from cti_server.sip.headers import parse_cseq, parse_name_addr
from cti_server.sip.local import LocalAddress
from cti_server.sip.message import Headers, SipRequest, SipResponse, reason_phrase
from cti_server.sip.peer import Peer
from cti_server.sip.transaction import (
    ClientKey,
    ServerKey,
    TransactionLayer,
    make_cancel,
    make_response,
    tag_param,
)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, INFO"


@dataclass(slots=True)
class SipLeg:
    leg_id: str
    inbound: bool
    invite: SipRequest
    peer: Peer
    local_tag: str
    server_key: ServerKey | None = None  # inbound: the INVITE server transaction
    client_key: ClientKey | None = None  # outbound: the INVITE client transaction
    dialog: Dialog | None = None
    answered: bool = False
    cancelling: bool = False  # outbound: CANCEL wanted (sent once a 1xx arrived)
    cancel_sent: bool = False
    auto_ack: bool = True
    ended: bool = False
    reinvite: tuple[ServerKey, SipRequest] | None = None  # re-INVITE awaiting the controller
    last_2xx_ack: SipRequest | None = None
    refer_seq: int = 0
    pending_acks: list[bytes] = field(default_factory=list)


class LegManager:
    def __init__(self, txn: TransactionLayer, ids: IdFactory, local: LocalAddress) -> None:
        self._txn = txn
        self._ids = ids
        self.local = local
        self.legs: dict[str, SipLeg] = {}
        self._by_dialog: dict[tuple[str, str], str] = {}  # (Call-ID, our tag) -> leg id
        self._by_call_id: dict[str, list[str]] = {}
        self._by_server_key: dict[ServerKey, str] = {}  # inbound INVITE transaction -> leg
        self.client_purpose: dict[ClientKey, tuple[str, str]] = {}  # client txn key -> (leg, what)
        self.events: list[le.LegEvent] = []

    # --- bookkeeping ----------------------------------------------------------------------

    def add(self, leg: SipLeg) -> None:
        self.legs[leg.leg_id] = leg
        if leg.server_key is not None:
            self._by_server_key[leg.server_key] = leg.leg_id
        self._by_dialog[(leg.invite.call_id, leg.local_tag)] = leg.leg_id
        self._by_call_id.setdefault(leg.invite.call_id, []).append(leg.leg_id)

    def forget(self, leg: SipLeg) -> None:
        leg.ended = True
        self.legs.pop(leg.leg_id, None)
        if leg.client_key is not None:  # an answered INVITE's purpose outlives its 2xx
            self.client_purpose.pop(leg.client_key, None)
        if leg.server_key is not None:
            self._by_server_key.pop(leg.server_key, None)
        self._by_dialog.pop((leg.invite.call_id, leg.local_tag), None)
        ids = self._by_call_id.get(leg.invite.call_id)
        if ids is not None:
            if leg.leg_id in ids:
                ids.remove(leg.leg_id)
            if not ids:
                del self._by_call_id[leg.invite.call_id]

    def by_server_key(self, key: ServerKey) -> SipLeg | None:
        leg_id = self._by_server_key.get(key)
        return self.legs.get(leg_id) if leg_id is not None else None

    def find(self, request: SipRequest) -> SipLeg | None:
        """The leg an in-dialog request belongs to: by Call-ID and our tag, else Call-ID alone.

        The fallback is for pyVoIP, whose ACK carries a random To-tag.
        """
        call_id = request.call_id
        to = request.headers.get("To") or ""
        tag = tag_param(to)
        if tag is not None:
            leg_id = self._by_dialog.get((call_id, tag))
            if leg_id is not None:
                return self.legs.get(leg_id)
        candidates = self._by_call_id.get(call_id, [])
        if len(candidates) == 1:
            return self.legs.get(candidates[0])
        return None

    # --- inbound dialog requests ---------------------------------------------------------

    def on_in_dialog(
        self, leg: SipLeg, key: ServerKey | None, request: SipRequest, peer: Peer, now: float
    ) -> None:
        method = request.method
        if leg.dialog is not None and method not in ("ACK", "CANCEL"):
            status = leg.dialog.check_remote_request(request)
            if status is not None:
                self.respond(key, request, status, leg=leg, now=now)
                return
        if leg.dialog is not None:
            leg.dialog.peer = peer
        if method == "BYE":
            self.respond(key, request, 200, leg=leg, now=now)
            self.events.append(le.LegHungUp(leg_id=leg.leg_id))
            self.forget(leg)
        elif method == "INVITE":
            if leg.reinvite is not None or not leg.answered or key is None:
                self.respond(key, request, 491, leg=leg, now=now)
                return
            leg.reinvite = (key, request)
            if leg.dialog is not None:
                leg.dialog.update_target(request)
            self.respond(key, request, 100, leg=leg, now=now)
            self.events.append(le.LegReinvited(leg_id=leg.leg_id, sdp=request.body))
        elif method == "REFER":
            refer_to = request.headers.get("Refer-To")
            if not refer_to:
                self.respond(key, request, 400, reason="Missing Refer-To", leg=leg, now=now)
                return
            self.respond(key, request, 202, leg=leg, now=now)
            self.events.append(le.LegReferred(leg_id=leg.leg_id, target=_refer_target(refer_to)))
        elif method in ("OPTIONS", "INFO", "NOTIFY", "UPDATE"):
            status = 200 if method != "UPDATE" else 501
            self.respond(key, request, status, leg=leg, now=now)
        else:
            self.respond(key, request, 405, leg=leg, now=now, extra=[("Allow", ALLOW)])

    def on_ack(self, leg: SipLeg, request: SipRequest) -> None:
        if leg.inbound and leg.answered:
            self.events.append(le.LegAcked(leg_id=leg.leg_id, sdp=request.body))

    def on_cancel(self, leg: SipLeg, now: float) -> None:
        if leg.answered or leg.ended:
            return  # too late: the INVITE already has a final answer (§9.2)
        self.respond(leg.server_key, leg.invite, 487, leg=leg, now=now)
        self.events.append(le.LegCancelled(leg_id=leg.leg_id))
        self.forget(leg)

    # --- responses to our requests -------------------------------------------------------

    def on_response(
        self, key: ClientKey, response: SipResponse, retransmission: bool, now: float
    ) -> None:
        purpose = self.client_purpose.get(key)
        if purpose is None:
            return
        leg_id, what = purpose
        leg = self.legs.get(leg_id)
        status = response.status
        if status >= 200 and not (200 <= status < 300 and what in ("invite", "reinvite")):
            self.client_purpose.pop(key, None)
        if leg is None:
            return
        if what == "invite":
            self._on_invite_response(leg, response, retransmission, now)
        elif what == "reinvite":
            if 200 <= status < 300:
                if leg.dialog is not None:
                    ack = leg.dialog.make_ack(
                        parse_cseq(response.headers.get("CSeq") or "").seq,
                        branch=self._ids.branch(),
                        **self._via_args(leg.peer),
                    )
                    self._send_raw(ack, leg.dialog.peer)
                if retransmission:
                    return
                self.client_purpose.pop(key, None)
            if status >= 200:
                self.events.append(
                    le.LegReinviteAnswered(leg_id=leg.leg_id, status=status, sdp=response.body)
                )
        elif what == "probe" and status in (404, 408, 481):
            self.events.append(le.LegGone(leg_id=leg.leg_id, reason=f"probe answered {status}"))
            self.forget(leg)
        elif what == "bye" and status >= 200:
            self.forget(leg)

    def _on_invite_response(
        self, leg: SipLeg, response: SipResponse, retransmission: bool, now: float
    ) -> None:
        status = response.status
        if status < 200:
            if status > 100 and tag_param(response.headers.get("To") or "") and leg.dialog is None:
                leg.dialog = Dialog.as_uac(leg.invite, response, leg.peer)
            if leg.cancelling and not leg.cancel_sent:
                self._send_cancel(leg, now)
            elif status > 100 and not leg.cancelling:
                self.events.append(
                    le.LegProgress(leg_id=leg.leg_id, status=status, sdp=response.body)
                )
            return
        if status >= 300:
            self.events.append(
                le.LegFailed(leg_id=leg.leg_id, status=status, reason=response.reason)
            )
            self.forget(leg)
            return
        if retransmission:
            if leg.last_2xx_ack is not None and leg.dialog is not None:
                self._send_raw(leg.last_2xx_ack, leg.dialog.peer)
            return
        leg.dialog = Dialog.as_uac(leg.invite, response, leg.peer)
        leg.answered = True
        if leg.cancelling:  # answered while we were cancelling: confirm, then hang up (§15)
            self.ack(leg, b"")
            self.bye(leg, now)
            return
        if leg.auto_ack:
            self.ack(leg, b"")
        self.events.append(le.LegAnswered(leg_id=leg.leg_id, sdp=response.body))

    # --- actions from the controller ------------------------------------------------------

    def respond(
        self,
        key: ServerKey | None,
        request: SipRequest,
        status: int,
        *,
        leg: SipLeg | None,
        now: float,
        reason: str | None = None,
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        to_tag = leg.local_tag if leg is not None and status > 100 else None
        resp = make_response(request, status, reason or reason_phrase(status), to_tag=to_tag)
        resp.headers.add("Server", self.local.user_agent)
        if request.method in ("INVITE", "SUBSCRIBE", "REFER") and 100 < status < 300:
            transport = leg.peer.transport if leg else "UDP"
            secure = request.uri[:5].lower() == "sips:"  # §8.1.1.8: sips in, sips Contact
            resp.headers.add("Contact", self.local.contact(transport, secure=secure))
        if request.method == "INVITE" and 200 <= status < 300:
            resp.headers.add("Allow", ALLOW)
        for name, value in extra or []:
            resp.headers.add(name, value)
        if body:
            resp.headers.add("Content-Type", "application/sdp")
            resp.body = body
        if key is not None:
            self._txn.send_response(key, resp, now)

    def answer_invite(self, leg: SipLeg, a: act.RespondLeg, now: float) -> None:
        if leg.ended or leg.answered:
            return
        extra = [("Retry-After", str(a.retry_after))] if a.retry_after else None
        self.respond(
            leg.server_key,
            leg.invite,
            a.status,
            leg=leg,
            now=now,
            reason=a.reason,
            body=a.sdp,
            extra=extra,
        )
        if 200 <= a.status < 300:
            leg.answered = True
            leg.dialog = Dialog.as_uas(leg.invite, leg.local_tag, leg.peer)
        elif a.status >= 300:
            self.forget(leg)

    def create(self, a: act.CreateLeg, peer: Peer, now: float) -> SipLeg:
        tag = self._ids.tag()
        display = f'"{a.caller_display}" ' if a.caller_display else ""
        h = Headers()
        h.add("Via", self.local.via(peer.transport, self._ids.branch()))
        h.add("Max-Forwards", str(a.max_forwards))
        h.add("From", f"{display}<sip:{a.caller}@{self.local.host}>;tag={tag}")
        h.add("To", f"<{_strip_params(a.uri)}>")
        h.add("Call-ID", self._ids.call_id())
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.local.contact(peer.transport, secure=a.uri[:5].lower() == "sips:"))
        h.add("Allow", ALLOW)
        h.add("User-Agent", self.local.user_agent)
        if a.sdp:
            h.add("Content-Type", "application/sdp")
        invite = SipRequest("INVITE", a.uri, h, a.sdp)
        leg = SipLeg(a.leg_id, False, invite, peer, tag, auto_ack=a.auto_ack)
        self.add(leg)
        leg.client_key = self._txn.send_request(invite, peer, now)
        self.client_purpose[leg.client_key] = (leg.leg_id, "invite")
        return leg

    def ack(self, leg: SipLeg, sdp: bytes) -> None:
        if leg.dialog is None:
            return
        ack = leg.dialog.make_ack(
            parse_cseq(leg.invite.headers.get("CSeq") or "1 INVITE").seq,
            branch=self._ids.branch(),
            body=sdp,
            **self._via_args(leg.peer),
        )
        leg.last_2xx_ack = ack
        self._send_raw(ack, leg.dialog.peer)

    def cancel(self, leg: SipLeg, now: float) -> None:
        if leg.inbound or leg.answered or leg.cancelling:
            if leg.answered and not leg.inbound:
                self.bye(leg, now)
            return
        leg.cancelling = True
        if leg.dialog is not None:  # a provisional arrived: CANCEL may go now (§9.1)
            self._send_cancel(leg, now)

    def _send_cancel(self, leg: SipLeg, now: float) -> None:
        leg.cancel_sent = True
        key = self._txn.send_request(make_cancel(leg.invite), leg.peer, now)
        self.client_purpose[key] = (leg.leg_id, "cancel")

    def bye(self, leg: SipLeg, now: float) -> None:
        self._in_dialog(leg, "BYE", now, "bye")

    def reinvite(self, leg: SipLeg, sdp: bytes, now: float) -> None:
        self._in_dialog(leg, "INVITE", now, "reinvite", body=sdp, contact=True)

    def probe(self, leg: SipLeg, now: float) -> None:
        self._in_dialog(leg, "OPTIONS", now, "probe")

    def answer_reinvite(self, leg: SipLeg, a: act.AnswerReinvite, now: float) -> None:
        if leg.reinvite is None:
            return
        (key, request), leg.reinvite = leg.reinvite, None
        self.respond(key, request, a.status, leg=leg, now=now, body=a.sdp)

    def notify_refer(self, leg: SipLeg, a: act.NotifyRefer, now: float) -> None:
        frag = f"SIP/2.0 {a.status} {reason_phrase(a.status)}\r\n".encode()
        state = "terminated;reason=noresource" if a.final else "active;expires=60"
        self._in_dialog(
            leg,
            "NOTIFY",
            now,
            "notify",
            body=frag,
            content_type="message/sipfrag;version=2.0",
            extra=[("Event", "refer"), ("Subscription-State", state)],
        )

    def _in_dialog(
        self,
        leg: SipLeg,
        method: str,
        now: float,
        what: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        contact: bool = False,
    ) -> None:
        if leg.dialog is None or leg.ended:
            return
        request = leg.dialog.new_request(
            method,
            branch=self._ids.branch(),
            body=body,
            content_type=content_type,
            contact=self.local.contact(leg.peer.transport, secure=leg.dialog.secure)
            if contact
            else None,
            extra_headers=extra or (),
            **self._via_args(leg.peer),
        )
        key = self._txn.send_request(request, leg.dialog.peer, now)
        self.client_purpose[key] = (leg.leg_id, what)
        if method == "BYE":
            leg.ended = True

    def _via_args(self, peer: Peer) -> dict[str, Any]:
        return {
            "via_host": self.local.host,
            "via_port": self.local.port_for(peer.transport),
            "transport": peer.transport,
        }

    def _send_raw(self, request: SipRequest, peer: Peer) -> None:
        """ACKs for 2xx are not transactions (RFC 3261 §13.2.2.4): sent as they are."""
        self._txn.send_stateless(request, peer)


def _strip_params(uri: str) -> str:
    return uri.split(";", 1)[0]


def _refer_target(refer_to: str) -> str:
    try:
        uri = parse_name_addr(refer_to, "Refer-To").uri
    except ValueError:
        return refer_to.strip("<> ")
    return uri.user or uri.format()
