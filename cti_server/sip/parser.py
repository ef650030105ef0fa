"""SIP message parser and stream framer (RFC 3261 §7, §18.3, §25; RFC 4475).

Theory of operation: ``parse_message`` turns one complete message (a UDP datagram, or a
frame cut by ``StreamFramer``) into a ``SipRequest``/``SipResponse`` doing the least work a
B2BUA needs on every message: unfold, split lines, canonicalise names (cached), split list
headers, slice the body by Content-Length, and check what RFC 3261 §8.2/§16.3 require of
every message (start line, mandatory headers once each, CSeq, Via and name-addr syntax).
Structured views (Via, From, URIs) are left to ``sip.headers`` and parsed on demand.

Errors found before the start line is readable raise at once. Later ones are collected and
raised at the end, so a broken request that still has a start line and a Via carries the
headers read so far as ``SipParseError.partial``: the endpoint answers it with
``status_hint`` (400, 505...) instead of dropping it (RFC 4475 §3.1.2, §3.3.1).

``StreamFramer`` cuts a TCP/TLS byte stream into messages by Content-Length, which is
mandatory on streams (RFC 3261 §18.3), skips CRLFs before a start line (§7.5) and counts
RFC 5626 §3.5.1 "\\r\\n\\r\\n" keep-alive pings so the adapter can answer each with "\\r\\n".
"""

from __future__ import annotations

import re

from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import split_list
from cti_server.sip.message import Headers, SipRequest, SipResponse, canonical_name

# Comma-separated values of these are stored as one entry each (RFC 3261 §7.3.1). Headers
# whose values may contain unquoted commas (Date, Retry-After, the *-Authenticate and
# *-Authorization challenges and credentials) are deliberately absent.
LIST_HEADERS: frozenset[str] = frozenset(
    {
        "Via", "Route", "Record-Route", "Contact", "Path", "Service-Route",
        "Allow", "Supported", "Require", "Proxy-Require", "Unsupported",
        "Accept", "Accept-Encoding", "Accept-Language", "Allow-Events",
        "Content-Encoding", "Content-Language", "In-Reply-To", "Alert-Info", "Call-Info",
        "Error-Info", "Warning", "Reason", "P-Asserted-Identity", "P-Preferred-Identity",
        "History-Info", "Accept-Contact", "Reject-Contact", "Security-Client",
        "Security-Server", "Security-Verify",
    }
)  # fmt: skip

# What the parse loop does per canonical name, as bit flags (one dict lookup per field).
_LIST, _ONCE, _NAME_ADDR, _VIA = 1, 2, 4, 8
_KIND: dict[str, int] = dict.fromkeys(LIST_HEADERS, _LIST)
# Fields that must appear at most once (RFC 3261 §7.3.1, RFC 4475 §3.3.8 and §3.3.9).
_KIND.update(dict.fromkeys(("Call-ID", "CSeq", "Max-Forwards", "Content-Length"), _ONCE))
_KIND.update({"From": _ONCE | _NAME_ADDR, "To": _ONCE | _NAME_ADDR})
_KIND.update({"Contact": _LIST | _NAME_ADDR, "Via": _LIST | _VIA})
_MANDATORY = ("From", "To", "Call-ID", "CSeq")
_KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK", "UPDATE",
     "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"}
)  # fmt: skip

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>]+")
_FOLD_RE = re.compile(r"\r?\n[ \t]+")
_CONTENT_LENGTH_RE = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:\s*([^\r\n]*)")
# sent-protocol then a host (RFC 3261 §20.42), LWS allowed around '/' (RFC 4475 §3.1.1.1).
_VIA_RE = re.compile(r"[ \t]*SIP[ \t]*/[ \t]*[^/\s]+[ \t]*/[ \t]*[^\s;/]+[ \t]+[^\s;]", re.I)
# name-addr: quoted or token-ish display name, <URI> without LWS (RFC 4475 §3.1.2.14),
# then params; or addr-spec without ',', '?' or ';' in the URI (RFC 3261 §20.10).
_NAME_ADDR_RE = re.compile(
    r'[ \t]*(?:"(?:[^"\\]|\\.)*"[ \t]*|[^"<>()@,;:\\/\[\]?={}\x00-\x1f]*)<[^<>\s]+>'
    r"[ \t]*(?:;.*)?"
    r'|[ \t]*[^\s<>";,?]+[ \t]*(?:;.*)?',
    re.DOTALL,
)

_name_cache: dict[str, str] = {}


class _Folded(Exception):
    """A continuation line was met: unfold the whole block and read it again."""


def parse_message(data: bytes, *, max_size: int = 65535) -> SipRequest | SipResponse:
    """Parse one complete message; raise ``SipParseError`` with a status hint otherwise."""
    if len(data) > max_size:
        raise SipParseError("Message too large", 513)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    head, body = _split_head(data)
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\n")  # a trailing CR is stripped from each value below
    start = lines[0]
    if start[-1:] == "\r":
        start = start[:-1]
    if not start:
        raise SipParseError("Empty message")
    errors: list[tuple[str, int]] = []
    method = uri = reason = ""
    status = 0
    if start[:4].upper() == "SIP/":
        status, reason, version = _parse_status_line(start)
    else:
        method, uri, version = _parse_request_line(start, errors)
    if version != "SIP/2.0":
        errors.append((f"Unsupported SIP version {version[:16]!r}", 505))

    # Responses are never answered, so their name-addr syntax is left to the dialog layer.
    mask = ~0 if method else ~_NAME_ADDR
    single: dict[str, str] = {}
    vias: list[str] = []
    start_errors = len(errors)
    try:
        items = _read_fields(lines, mask, single, vias, errors)
    except _Folded:
        del errors[start_errors:]
        single.clear()
        vias.clear()
        lines = _FOLD_RE.sub(" ", text).split("\n")  # RFC 3261 §7.3.1: a fold is one SP
        try:
            items = _read_fields(lines, mask, single, vias, errors)
        except _Folded:  # still a continuation line: one that follows no header at all
            raise SipParseError("Continuation line without a header field", 400) from None
    body = _slice_body(body, single.get("Content-Length"), errors)
    _check_core(vias, single, method, errors)
    headers = Headers.from_canonical(items)

    if method:
        request = SipRequest(method, uri, headers, body)
        if errors:
            status_hint = 505 if any(e[1] == 505 for e in errors) else errors[0][1]
            reason_text = next(e[0] for e in errors if e[1] == status_hint)
            raise SipParseError(reason_text, status_hint, partial=request if vias else None)
        return request
    if errors:
        raise SipParseError(errors[0][0], errors[0][1])
    return SipResponse(status, reason, headers, body)


def _read_fields(
    lines: list[str],
    mask: int,
    single: dict[str, str],
    vias: list[str],
    errors: list[tuple[str, int]],
) -> list[tuple[str, str]]:
    """One pass over the header lines: names, list splitting and per-field checks."""
    items: list[tuple[str, str]] = []
    append = items.append
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        canon = _name_cache.get(name) if sep else None
        if canon is None:
            if line[:1] in (" ", "\t"):
                raise _Folded
            if not sep:
                if line.strip(" \t\r"):
                    errors.append((f"Header line without ':' {line[:40]!r}", 400))
                continue
            canon = _canonical(name)
            if canon is None:
                errors.append((f"Bad header name {name[:40]!r}", 400))
                continue
        value = value.strip(" \t\r")
        kind = _KIND.get(canon)
        if kind is None:
            append((canon, value))
            continue
        kind &= mask
        if kind & _ONCE:
            if canon in single:
                errors.append((f"Multiple {canon} header fields", 400))
            single[canon] = value
        if kind & _LIST and "," in value:
            parts = split_list(value)
            items.extend([(canon, part) for part in parts])
            if kind & (_VIA | _NAME_ADDR):
                for part in parts:
                    _check_value(canon, kind, part, vias, errors)
        else:
            append((canon, value))
            if kind & _VIA:
                vias.append(value)
            elif kind & _NAME_ADDR and not _NAME_ADDR_RE.fullmatch(value) and value != "*":
                errors.append((f"Bad {canon} {value[:60]!r}", 400))
    return items


def _check_value(
    canon: str, kind: int, value: str, vias: list[str], errors: list[tuple[str, int]]
) -> None:
    if kind & _VIA:
        vias.append(value)
    elif kind & _NAME_ADDR and not _NAME_ADDR_RE.fullmatch(value) and value != "*":
        errors.append((f"Bad {canon} {value[:60]!r}", 400))


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Cut at the first empty line; bare LF endings are tolerated (broken peers send them)."""
    first = data.find(b"\n")
    if first > 0 and data[first - 1] == 13:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data[:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n")
        if end >= 0:
            return data[:end], data[end + 2 :]
    # No empty line: the whole datagram is the header block (RFC 4475 §3.1.2.15 baddn).
    return data.rstrip(b"\r\n"), b""


def _parse_request_line(line: str, errors: list[tuple[str, int]]) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) == 3 and parts[0] and parts[1] and parts[2]:
        method, uri, version = parts
    else:
        # RFC 4475 §3.1.2.8-10 (LWS in the URI, extra or trailing SP): answerable with 400.
        words = line.split()
        if len(words) < 3 or not _VERSION_RE.fullmatch(words[-1]):
            raise SipParseError(f"Malformed start line {line[:60]!r}")
        method, uri, version = words[0], " ".join(words[1:-1]), words[-1]
        errors.append((f"Malformed Request-Line {line[:60]!r}", 400))
    if method not in _KNOWN_METHODS and not _TOKEN_RE.fullmatch(method):
        raise SipParseError(f"Bad method {method[:30]!r}")
    if version != "SIP/2.0":
        if not _VERSION_RE.fullmatch(version):
            raise SipParseError(f"Malformed start line {line[:60]!r}")
        version = version.upper()
    if not _URI_RE.fullmatch(uri):
        errors.append((f"Bad Request-URI {uri[:60]!r}", 400))
    elif uri[:4].lower() in ("sip:", "sips"):
        # RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        at = uri.find("@")
        if "?" in (uri[at + 1 :] if at >= 0 else uri):
            errors.append(("Headers in Request-URI", 400))
    return method, uri, version


def _parse_status_line(line: str) -> tuple[int, str, str]:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != "SIP/2.0":
        if not _VERSION_RE.fullmatch(version):
            raise SipParseError(f"Malformed start line {line[:60]!r}")
        version = version.upper()
    if len(code) != 3 or not code.isascii() or not code.isdigit() or code[0] not in "123456":
        raise SipParseError(f"Bad status code {code[:20]!r}")  # RFC 4475 §3.1.2.19
    return int(code), reason, version


def _canonical(raw: str) -> str | None:
    """Validate and canonicalise a header name, caching spellings seen before (bounded)."""
    name = raw.rstrip(" \t")  # RFC 3261 §7.3.1: whitespace before the colon is allowed
    if not _TOKEN_RE.fullmatch(name):
        return None
    canon = canonical_name(name)
    if len(_name_cache) < 4096:  # names come from the network
        _name_cache[raw] = canon
    return canon


def _slice_body(body: bytes, length: str | None, errors: list[tuple[str, int]]) -> bytes:
    if length is None:
        return body  # UDP without Content-Length: the rest of the datagram (§18.3)
    if not length.isascii() or not length.isdigit():
        errors.append((f"Bad Content-Length {length[:20]!r}", 400))
        return body
    size = int(length)
    if len(body) < size:
        errors.append(("Content-Length mismatch", 400))  # RFC 4475 §3.1.2.2
        return body
    return body[:size]  # RFC 3261 §18.3: octets beyond Content-Length are discarded


def _check_core(
    vias: list[str], single: dict[str, str], method: str, errors: list[tuple[str, int]]
) -> None:
    """RFC 3261 §8.1.1 mandatory fields, Via and CSeq syntax (RFC 4475 §3.1.2)."""
    if not vias:
        errors.append(("Missing Via", 400))
    for via in vias:
        if not _VIA_RE.match(via):
            errors.append((f"Bad Via {via[:60]!r}", 400))
            break
    for name in _MANDATORY:
        if not single.get(name):
            errors.append((f"Missing {name}", 400))
    cseq = single.get("CSeq")
    if cseq:
        parts = cseq.split()
        if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
            errors.append((f"Bad CSeq {cseq[:40]!r}", 400))
        elif int(parts[0]) >= 2**31:  # RFC 3261 §8.1.1.5 (RFC 4475 §3.1.2.4)
            errors.append(("CSeq sequence number out of range", 400))
        elif method and parts[1] != method:
            errors.append(("CSeq method does not match the request method", 400))  # §8.2


class StreamFramer:
    """Cut a TCP/TLS byte stream into whole messages by Content-Length (RFC 3261 §18.3).

    After a ``SipParseError`` the stream position is lost: the adapter must close the
    connection (after answering 400 if it can).
    """

    def __init__(self, *, max_size: int = 65535) -> None:
        self._buf = bytearray()
        self._max_size = max_size
        self._need: int | None = None  # total size of the message being read, once known
        self._scan_from = 0  # where to resume looking for the end of the header block
        self._crlf_pairs = 0  # CRLFs seen since the last message or ping
        self.keepalive_pings = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            if self._need is None:
                if not self._skip_crlf():
                    break
                end = self._header_end()
                if end is None:
                    break
                self._need = end + self._content_length(end)
            if len(self._buf) < self._need:
                break
            out.append(bytes(self._buf[: self._need]))
            del self._buf[: self._need]
            self._need = None
            self._scan_from = 0
        return out

    def _skip_crlf(self) -> bool:
        """Drop CRLFs before a start line, counting "\\r\\n\\r\\n" pings; False if none left."""
        buf = self._buf
        i = 0
        while i < len(buf) and buf[i] in (13, 10):
            if buf[i] == 13:
                if i + 1 == len(buf):
                    break  # a lone CR: wait for its LF
                if buf[i + 1] == 10:
                    self._crlf_pairs += 1
                    if self._crlf_pairs == 2:  # RFC 5626 §3.5.1 ping
                        self.keepalive_pings += 1
                        self._crlf_pairs = 0
                    i += 2
                    continue
            i += 1
        if i:
            del buf[:i]
        if buf and buf[0] not in (13, 10):
            self._crlf_pairs = 0
            return True
        return False

    def _header_end(self) -> int | None:
        buf = self._buf
        start = self._scan_from
        crlf = buf.find(b"\r\n\r\n", start)
        lf = buf.find(b"\n\n", start)
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return lf + 2
        if crlf >= 0:
            return crlf + 4
        if len(buf) > self._max_size:
            raise SipParseError("Header block too large", 513)
        self._scan_from = max(0, len(buf) - 3)
        return None

    def _content_length(self, end: int) -> int:
        values = _CONTENT_LENGTH_RE.findall(bytes(self._buf[:end]))
        if not values:
            raise SipParseError("Content-Length is mandatory on stream transports")
        if len(values) > 1:
            raise SipParseError("Multiple Content-Length header fields")
        text = values[0].strip()
        if not text.isdigit():
            raise SipParseError(f"Bad Content-Length {text[:20]!r}")
        length = int(text)
        if end + length > self._max_size:
            raise SipParseError("Message too large", 513)
        return length
