"""Server configuration: one YAML file validated with pydantic, errors as ``file:line: reason``.

The loader (``cti_server.yaml_lines``) keeps the line of every mapping key and list item, so a
validation error deep in ``trunks[1].allow_from`` points at the line a person has to fix.
Every field has an embedded default: an empty file (or none) runs the demo on SQLite and local
files.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acd.dialer_settings import DialerSettings
from acd.settings import AcdSettings
from cti_server.crm.script_settings import ScriptSettings
from cti_server.crm.webhook_settings import WebhookSettings
from cti_server.sip.scan_guard import SCANNER_AGENTS
from cti_server.tls_config import SipTlsConfig, TlsConfig
from cti_server.yaml_lines import ConfigError as ConfigError  # re-exported: its old home
from cti_server.yaml_lines import format_validation_error, load_yaml
from ivr_flows.settings import IvrSettings

TargetKind = Literal["extension", "trunk", "uri", "flow", "queue"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SipConfig(_Model):
    listen: str = "127.0.0.1"
    port: int = Field(5060, ge=0, le=65535)
    transports: list[Literal["udp", "tcp"]] = ["udp", "tcp"]
    advertised_host: str | None = Field(
        None, description="host put in Via/Contact; listen address if unset"
    )
    realm: str = "cti.local"
    digest_algorithms: list[Literal["SHA-256", "MD5"]] = Field(
        ["SHA-256", "MD5"],
        min_length=1,
        description="challenge order (RFC 8760: strongest first); SIPp 3.6 needs MD5 first",
    )
    user_agent: str = "cti-server/0.1"
    t1: float = Field(0.5, gt=0)
    t2: float = Field(4.0, gt=0)
    t4: float = Field(5.0, gt=0)
    max_message_size: int = Field(65535, ge=1024)
    socket_buffer: int = Field(4 << 20, ge=65536, description="UDP receive/send buffer bytes")
    max_transactions: int = Field(100_000, ge=10)
    register_min_expires: int = Field(60, ge=1)
    register_max_expires: int = Field(3600, ge=1)
    nonce_lifetime: float = Field(300.0, gt=0)
    auth_max_failures: int = Field(5, ge=1)
    auth_window: float = Field(60.0, gt=0)
    auth_cooldown: float = Field(300.0, gt=0)
    auth_locked_answers: int = Field(
        3, ge=0, description="403s a locked-out source still gets; then silence until cool-down"
    )
    scan_rate: float = Field(
        20.0, ge=0, description="requests/s per source address, more dropped unanswered; 0 = off"
    )
    scan_burst: int = Field(100, ge=1, description="requests a source may send at once")
    scan_max_sources: int = Field(100_000, ge=100, description="sources the rate limit tracks")
    proxies: list[str] = Field(
        [],
        description="networks of SIP proxies in front (Kamailio): never rate-limited, and a "
        "failed login through them counts against the client in the next Via, not the proxy",
    )
    scan_exempt: list[str] = Field(
        [], description="networks never rate-limited (trunks never are), e.g. an SBC in front"
    )
    scanner_agents: list[str] = Field(
        list(SCANNER_AGENTS), description="User-Agent substrings (any case) of attack tools"
    )
    drop_scanner_agents: bool = Field(
        True, description="drop requests from scanner_agents unanswered (else only count)"
    )

    @field_validator("scan_exempt", "proxies")
    @classmethod
    def _exempt_networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"{net!r} is not an IP address or network") from exc
        return value

    ring_timeout: float = Field(
        60.0, gt=0, description="CANCEL an outbound leg unanswered this long"
    )
    session_expires: float = Field(
        1800.0, ge=90, description="reap a call with no sign of life this long"
    )
    tls: SipTlsConfig | None = Field(None, description="SIP over TLS (sips:); off if unset")


class HttpConfig(_Model):
    listen: str = "127.0.0.1"
    port: int = Field(8080, ge=-1, le=65535, description="0 = any free port, -1 = no HTTP")
    tls: TlsConfig | None = Field(
        None, description="serve HTTPS and WSS (not plain HTTP) on port when set"
    )


class AccountConfig(_Model):
    """A SIP account (an agent's softphone): ``password`` (hashed at load, not kept) or HA1s."""

    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-+]{1,64}$")]
    password: str | None = None
    ha1_md5: str | None = None
    ha1_sha256: str | None = None
    display_name: str | None = None
    digest_algorithms: list[Literal["SHA-256", "MD5"]] | None = Field(
        None, min_length=1, description="per-phone override of sip.digest_algorithms"
    )

    @model_validator(mode="after")
    def _has_secret(self) -> AccountConfig:
        if self.password is None and self.ha1_md5 is None and self.ha1_sha256 is None:
            raise ValueError(f"account {self.user!r} needs password or ha1_md5/ha1_sha256")
        return self


class TrunkConfig(_Model):
    """A PSTN gateway. Inbound calls are accepted from ``allow_from`` (and/or by digest)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
    allow_from: list[str] = []
    username: str | None = None
    password: str | None = None
    outbound_uri: str | None = Field(None, description="sip:host:port the server sends calls to")

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"allow_from: {net!r} is not an IP address or network") from exc
        return value

    @field_validator("outbound_uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^sips?:", value):
            raise ValueError(f"outbound_uri {value!r} must start with sip: or sips:")
        return value


class RouteConfig(_Model):
    """One number-plan entry: a called number matching ``match`` goes to ``target``.

    ``target`` is ``kind:value``; ``value`` may use ``\\1``-style groups of the match.
    Kinds: extension (a registered account), trunk (a trunk's outbound_uri, user = number),
    uri (a fixed SIP URI), flow (an IVR flow), queue (an ACD queue).
    """

    match: str
    target: str
    from_trunks_only: bool = Field(False, description="only calls arriving on a trunk may use it")
    strip: int = Field(0, ge=0, description="digits removed from the front before dialing")
    prefix: str = ""
    announce: str | None = Field(
        None, description="prompt played to the caller (answered first) before the target rings"
    )
    language: Literal["ko", "en"] | None = Field(None, description="prompt language; top level")
    voicemail: bool = Field(
        False, description="extension targets: unreachable, busy or no answer -> voice message"
    )
    agent: str | None = Field(
        None,
        description="queue targets: the designated agent (groups allowed, e.g. \\1), offered "
        "the call first; away -> a voice message for them",
    )

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        # re raises OverflowError for a{4294967296} and RecursionError for deep nesting.
        except (re.error, OverflowError, RecursionError) as exc:
            raise ValueError(f"match {value!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        kind, sep, rest = value.partition(":")
        if not sep or kind not in ("extension", "trunk", "uri", "flow", "queue") or not rest:
            raise ValueError(
                f"target {value!r} must be kind:value with kind one of "
                "extension, trunk, uri, flow, queue"
            )
        return value

    @model_validator(mode="after")
    def _groups_exist(self) -> RouteConfig:
        pattern = re.compile(self.match)
        if self.agent is not None and self.kind != "queue":
            raise ValueError(f"route {self.match!r}: agent is for queue targets only")
        for ref in re.findall(r"\\g<(\w+)>|\\(\d+)", self.target + (self.agent or "")):
            name = ref[0] or ref[1]
            known = int(name) <= pattern.groups if name.isdigit() else name in pattern.groupindex
            if not known:
                raise ValueError(
                    f"target {self.target!r} uses group {name!r}, which "
                    f"match {self.match!r} does not have"
                )
        return self

    @property
    def kind(self) -> str:
        return self.target.partition(":")[0]


class MediaConfig(_Model):
    """Where RTP goes. ``anchor``: every call's audio flows through this server (needed for
    prompts, DTMF, recording); ``passthrough``: SDP is relayed and audio flows end to end."""

    mode: Literal["anchor", "passthrough"] = "anchor"
    listen: str | None = Field(None, description="RTP address; sip.listen if unset")
    advertised_ip: str | None = Field(None, description="address put in SDP; listen if unset")
    port_min: int = Field(20000, ge=1024, le=65534)
    port_max: int = Field(30000, ge=1026, le=65535)
    rtp_timeout: float = Field(60.0, gt=0, description="clear a connected call this silent")

    @model_validator(mode="after")
    def _range(self) -> MediaConfig:
        if self.port_max - self.port_min < 4:
            raise ValueError(
                "media port range must hold at least two legs (port_max - port_min >= 4)"
            )
        return self


class RecordingConfig(_Model):
    """Call recording (needs media.mode anchor): stereo WAV, caller left, agent right."""

    policy: Literal["all", "none", "on_demand"] = Field(
        "all", description="all: every answered call; on_demand: only when asked by the API"
    )
    queue_policies: dict[str, Literal["all", "none", "on_demand"]] = Field(
        {}, description="per ACD queue, overriding policy (e.g. none for a PIN-reset queue)"
    )
    directory: str | None = Field(None, description="where WAV files go; <data_dir>/recordings")
    voice_message_max: float = Field(120.0, gt=0, description="longest voice message (s)")
    retention_days: float | None = Field(
        365.0, gt=0, description="delete recordings older than this (hourly); null keeps all"
    )


class StorageConfig(_Model):
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite in data_dir if unset"
    )


class RedisConfig(_Model):
    """Set ``url`` to run as one of two (or more) nodes: the node holding the leader lease
    distributes calls, the others are hot standbys that take over from its snapshot."""

    url: str | None = None
    key_prefix: str = "cti:"
    node_id: str | None = Field(None, description="unique per node; default <hostname>-<pid>")
    lease_ttl: float = Field(3.0, ge=0.3, le=60, description="takeover within about this")
    stream_max_len: int = Field(100_000, ge=100, description="events kept in the stream")
    snapshot_interval: float = Field(0.2, ge=0.0, le=10)
    cluster: bool = Field(
        False,
        description="every node takes calls and queues them through the leader's distributor "
        "(false: the standby answers 503 for queues until it leads)",
    )
    registration_sync: float = Field(
        0.5, gt=0, le=30, description="seconds between sharing changed registrations (cluster)"
    )


class Config(_Model):
    data_dir: str = "./data"
    timezone: str = "Asia/Seoul"
    language: Literal["ko", "en"] = "ko"
    sip: SipConfig = SipConfig()
    http: HttpConfig = HttpConfig()
    accounts: list[AccountConfig] = []
    trunks: list[TrunkConfig] = []
    routes: list[RouteConfig] = []
    media: MediaConfig = MediaConfig()
    recording: RecordingConfig = RecordingConfig()
    storage: StorageConfig = StorageConfig()
    redis: RedisConfig = RedisConfig()
    ivr: IvrSettings = IvrSettings()
    acd: AcdSettings = AcdSettings()
    dialer: DialerSettings = DialerSettings()
    crm: ScriptSettings = ScriptSettings()
    webhooks: WebhookSettings = WebhookSettings()

    @model_validator(mode="after")
    def _references(self) -> Config:
        trunk_names = {t.name for t in self.trunks}
        users = [a.user for a in self.accounts] + [t.username for t in self.trunks if t.username]
        dupes = {u for u in users if users.count(u) > 1}
        if dupes:
            raise ValueError(f"duplicate account or trunk users: {', '.join(sorted(dupes))}")
        for trunk in self.trunks:
            if bool(trunk.username) != bool(trunk.password):
                raise ValueError(f"trunk {trunk.name!r}: give both username and password")
        for route in self.routes:
            kind, _, value = route.target.partition(":")
            if kind == "trunk" and value not in trunk_names:
                raise ValueError(f"route {route.match!r}: unknown trunk {value!r}")
            if kind == "trunk":
                trunk = next(t for t in self.trunks if t.name == value)
                if trunk.outbound_uri is None:
                    raise ValueError(f"route {route.match!r}: trunk {value!r} has no outbound_uri")
        queues = {q.name for q in self.acd.queues}
        dial_queues = [q.name for q in self.dialer.queues] + [
            c.queue for c in self.dialer.campaigns
        ]
        for name in dial_queues:
            if name not in queues:
                raise ValueError(
                    f"dialer: unknown ACD queue {name!r} (acd.queues has {sorted(queues)})"
                )
        return self

    def with_overrides(self, **changes: Any) -> Config:
        """Apply CLI overrides such as ``sip.port`` (dotted) without mutating the loaded config."""
        data = self.model_dump()
        for dotted, value in changes.items():
            if value is None:
                continue
            node = data
            *path, leaf = dotted.split(".")
            for part in path:
                node = node[part]
            node[leaf] = value
        try:
            return Config.model_validate(data)
        except ValidationError as exc:  # a command-line override made the config invalid
            raise ConfigError(format_validation_error(exc, data, "<command line>")) from None


def parse_config(text: str, filename: str = "<config>") -> Config:
    data = load_yaml(text, filename)  # a value PyYAML cannot build is a ConfigError too
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1: the config must be a mapping of sections"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, filename)) from None


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([f"{p}:0: cannot read: {reason}"]) from exc
    return parse_config(text, str(p))
