"""Structured views of the SIP header values this server reads: URIs, name-addr, Via, CSeq.

Each ``parse_*`` raises ``HeaderError`` (a ``SipParseError`` with status hint 400) naming the
header, so the endpoint can answer "400 Bad Via" and the like. Parameters keep their
original case in values but are looked up by lower-case name (RFC 3261 §7.3.1, §19.1.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cti_server.sip.errors import SipParseError

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# One list element: quoted strings and <URIs> may hold commas; unterminated ones run to the end.
_LIST_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.?)*(?:"|$)|<[^>]*(?:>|$)|[^,"<])+', re.DOTALL)
_VIA_PROTOCOL = re.compile(rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+")


class HeaderError(SipParseError):
    def __init__(self, header: str, detail: str) -> None:
        super().__init__(f"Bad {header}: {detail}", status_hint=400)
        self.header = header


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and angle brackets."""
    if '"' not in value and "<" not in value:
        return [part for part in map(str.strip, value.split(",")) if part]
    return [part for part in map(str.strip, _LIST_ITEM.findall(value)) if part]


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;a=b;c`` (leading ';' optional) into a dict keyed by lower-case name."""
    params: dict[str, str | None] = {}
    for raw in _split_unquoted(text, ";"):
        raw = raw.strip()
        if not raw:
            continue
        name, sep, val = raw.partition("=")
        name = name.strip().lower()
        params[name] = val.strip() if sep else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _split_unquoted(text: str, sep: str) -> list[str]:
    if '"' not in text:  # the common case: no quoted string can hide a separator
        return text.split(sep)
    parts: list[str] = []
    buf_start = 0
    in_quote = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == sep:
            parts.append(text[buf_start:i])
            buf_start = i + 1
        i += 1
    parts.append(text[buf_start:])
    return parts


@dataclass(slots=True)
class SipUri:
    """sip:/sips:/tel: URI. ``host`` keeps IPv6 brackets off; ``format`` restores them."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""
    password: str | None = None

    def format(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user or self.host}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{host}{port}{format_params(self.params)}{hdrs}"

    def __str__(self) -> str:
        return self.format()


def parse_uri(text: str) -> SipUri:
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or not rest:
        raise HeaderError("URI", f"no scheme in {text[:60]!r}")
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri("tel", number, "", None, parse_params(params))
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"Unsupported URI scheme {scheme!r}", status_hint=416)
    user: str | None = None
    password: str | None = None
    # userinfo may hold '?', ';' and ':' (RFC 3261 §25.1 user-unreserved) but never an
    # unescaped '@', so the first '@' ends it; '?' starts headers only after the host.
    if "@" in rest:
        userinfo, rest = rest.split("@", 1)
        user, psep, pw = userinfo.partition(":")
        password = pw if psep else None
    rest, _, hdrs = rest.partition("?")
    hostport, _, params = rest.partition(";")
    host, port = _split_hostport(hostport, "URI")
    return SipUri(scheme, user, host, port, parse_params(params), hdrs, password)


def _split_hostport(text: str, header: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise HeaderError(header, "unterminated IPv6 reference")
        host = text[1:end]
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise HeaderError(header, "junk after IPv6 reference")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = ""
    if not host or any(c in host for c in ' \t<>"@'):
        raise HeaderError(header, f"bad host {host!r}")
    if not port_text:
        return host.lower(), None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise HeaderError(header, f"bad port {port_text!r}")
    return host.lower(), int(port_text)


@dataclass(slots=True)
class NameAddr:
    """From/To/Contact/Route/Refer-To value: optional display name, URI, header params."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def format(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        return f"{display}<{self.uri.format()}>{format_params(self.params)}"


def parse_name_addr(text: str, header: str = "name-addr") -> NameAddr:
    text = text.strip()
    display: str | None = None
    if text.startswith('"'):
        end = 1
        while end < len(text):
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == '"':
                break
            end += 1
        else:
            raise HeaderError(header, "unterminated display name")
        display = text[1:end]
        text = text[end + 1 :].lstrip()
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise HeaderError(header, "missing '>'")
        if display is None:
            display = text[:lt].strip() or None
        uri = parse_uri(text[lt + 1 : gt])
        params = parse_params(text[gt + 1 :])
    else:
        # addr-spec form: URI parameters are header parameters (RFC 3261 §20.10).
        if display is not None:
            raise HeaderError(header, "display name without <URI>")
        uri_text, _, param_text = text.partition(";")
        uri = parse_uri(uri_text)
        params = parse_params(param_text)
    return NameAddr(uri, display, params)


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def format(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    # LWS is allowed around each '/' of sent-protocol (RFC 3261 §25.1, RFC 4475 §3.1.1.1).
    match = _VIA_PROTOCOL.match(text)
    if match is None or match.group(1).upper() != "SIP":
        raise HeaderError("Via", f"bad sent-protocol in {text[:60]!r}")
    hostport, _, params = text[match.end() :].partition(";")
    host, port = _split_hostport(hostport, "Via")
    return Via(match.group(3).upper(), host, port, parse_params(params))


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def format(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    # ASCII digits only (RFC 3261 §25.1 DIGIT): '²'.isdigit() is True but int() refuses it.
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        raise HeaderError("CSeq", f"{text[:40]!r}")
    seq = int(parts[0])
    if seq >= 2**31:  # RFC 3261 §8.1.1.5: less than 2**31
        raise HeaderError("CSeq", "sequence number out of range")
    return CSeq(seq, parts[1])
