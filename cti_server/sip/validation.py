"""Checks every request passes before dispatch (RFC 3261 §8.2.1-§8.2.3, §16.3).

Each check returns the status to answer and extra headers, or ``(0, [])`` to go on.
"""

from __future__ import annotations

from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_via
from cti_server.sip.local import LocalAddress
from cti_server.sip.message import SipRequest, SipResponse
from cti_server.sip.transaction import make_response

# Option tags we honour when a request Requires them (§8.2.2.3). None yet: session timers
# (RFC 4028), 100rel, Replaces and Path are not implemented, so requiring them gets 420.
ANSWERABLE = ("Via", "From", "To", "Call-ID", "CSeq")  # what a response must copy (§8.2.6.2)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()
SDP_TYPES = frozenset({"application/sdp", "multipart/mixed", "multipart/alternative"})


def validate_request(request: SipRequest, local: LocalAddress) -> tuple[int, list[tuple[str, str]]]:
    scheme = request.uri.split(":", 1)[0].lower()
    if scheme not in ("sip", "sips", "tel"):
        return 416, []  # §8.2.2.1
    mf = request.headers.get("Max-Forwards")
    if mf is not None:
        mf = mf.strip()
        if not mf.isascii() or not mf.isdigit():  # '²'.isdigit() is True, int() refuses it
            return 400, []
        if int(mf) <= 0 and request.method not in ("OPTIONS", "REGISTER"):
            return 483, []
    if request.method not in ("ACK", "CANCEL"):  # §8.2.2.3: never for ACK/CANCEL
        required = {
            token.strip().lower()
            for value in request.headers.get_all("Require")
            for token in value.split(",")
            if token.strip()
        }
        unknown = sorted(required - SUPPORTED_EXTENSIONS)
        if unknown:
            return 420, [("Unsupported", ", ".join(unknown))]
    if request.body and request.method in ("INVITE", "ACK"):  # §8.2.3
        ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in SDP_TYPES:
            return 415, [("Accept", "application/sdp")]
        encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", ""):
            return 415, [("Accept-Encoding", "identity")]
    if request.method == "INVITE" and not _accepts_sdp(request):
        return 406, [("Accept", "application/sdp")]  # RFC 4475 §3.3.15 (sdp01)
    if request.method == "REGISTER" and not _to_is_sip(request):
        return 416, []  # the address-of-record must be a SIP URI (RFC 4475 §3.3.4)
    if is_loop(request, local):
        return 482, []
    return 0, []


def _accepts_sdp(request: SipRequest) -> bool:
    accepted = request.headers.get_all("Accept")
    if not accepted:
        return True  # §20.1: no Accept means application/sdp
    types = {v.split(";")[0].strip().lower() for value in accepted for v in value.split(",")}
    return bool(types & {"application/sdp", "application/*", "*/*", ""})


def _to_is_sip(request: SipRequest) -> bool:
    to = (request.headers.get("To") or "").strip()
    uri = to[to.find("<") + 1 :] if "<" in to else to.split('"')[-1].strip()
    return uri.lower().startswith(("sip:", "sips:"))


def is_loop(request: SipRequest, local: LocalAddress) -> bool:
    """Our own request coming back (a number plan pointing at ourselves): §16.3 482.

    A B2BUA starts every outbound request with only its own Via, so any Via naming our
    address means the request left here and returned.
    """
    mine = {(local.host, local.port), (local.host, local.port_for("TLS"))}
    for value in request.headers.get_all("Via"):
        if local.host not in value.lower():  # cheap pre-check: most Vias are not ours
            continue
        try:
            via = parse_via(value)
        except SipParseError:
            continue
        if (via.host, via.port or (5061 if via.transport == "TLS" else 5060)) in mine:
            return True
    return False


def reject_unparsable(
    exc: SipParseError, request: SipRequest | None, to_tag: str
) -> tuple[SipResponse | None, str]:
    """The stateless answer to a message we could not use (its status hint), when a response
    can be built from what was read; else None. The label is what ``dropped`` counts."""
    partial = request or exc.partial
    label = exc.reason.split(":")[0][:40].strip().lower().replace(" ", "_") or "unparsable"
    if (
        partial is None
        or partial.method == "ACK"  # never answered (RFC 3261 §17.2.1)
        or any(name not in partial.headers for name in ANSWERABLE)
    ):
        return None, label
    try:
        resp = make_response(partial, exc.status_hint, safe_reason(exc.reason), to_tag=to_tag)
    except (SipParseError, ValueError):
        return None, label
    return resp, f"answered_{exc.status_hint}"


def safe_reason(reason: str) -> str:
    """A reason phrase that cannot break the status line (no CR/LF, printable, bounded)."""
    return "".join(ch for ch in reason if ch.isprintable() and ch not in "\r\n")[:80] or (
        "Bad Request"
    )
