"""Composition root: every core, adapter and subscriber is wired here, in one function.

``build_app`` only constructs; ``App.start`` binds the sockets. Tests build the same App on
``task.Clock`` (or the real reactor with port 0) and reach into its parts.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet.error import CannotListenError

from acd.cluster import ClusterAcd
from cti_server.adapters.cdr_service import CdrService
from cti_server.adapters.process_gauges import attach_process_gauges
from cti_server.adapters.recording_service import RecordingService
from cti_server.adapters.rtp_udp import MediaService
from cti_server.adapters.sip_service import SipService
from cti_server.adapters.sip_tcp import SipTcpFactory
from cti_server.adapters.sip_udp import SipUdpProtocol
from cti_server.app_parts import (
    build_recording,
    grow_buffers,
    nonce_secret,
    recordings_dir,
)
from cti_server.bus import EventBus
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import Config
from cti_server.contact_center import (
    ContactCenter,
    build_call_services,
    build_contact_center,
    flow_names,
)
from cti_server.event_log import EventLogger
from cti_server.ids import IdFactory
from cti_server.media.prompt_source import load_prompt_source
from cti_server.record_keeping import build_record_writer
from cti_server.sip.accounts import Account
from cti_server.sip.local import LocalAddress
from metrics.prom_dialer import attach_dialer
from metrics.prometheus import attach_acd, attach_bus, attach_recording, build_registry

log = logging.getLogger(__name__)


@dataclass
class App:
    config: Config
    reactor: Any
    bus: EventBus
    switch: CallSwitch
    sip: SipService
    registry: CollectorRegistry
    media: MediaService | None = None
    recording: RecordingService | None = None
    center: ContactCenter | None = None
    services: Any = None  # CallServices: the thread pool side of lookups and PIN checks
    ha: Any = None  # HaService: the leader lease and event stream (redis.url set)
    records: Any = None  # RecordWriter: call records, queue events, agent log -> journal -> SQL
    cdr: Any = None  # CdrService: the bus folded into call records
    dialer: Any = None  # DialerService: callbacks and campaigns dialled out (ACD configured)
    push: Any = None  # EventPush: the desktops' WebSocket feed (/api/v1/events)
    http_site: Any = None  # api.site.HttpSite: the REST API, pages and the events WebSocket
    call_control: Any = None  # adapters.desk_calls.DeskCalls: the desktop's call control
    webhooks: Any = None  # adapters.webhook_service: the CRM feed's outbox and delivery
    monitor: Any = None  # adapters.monitor_control: supervisors listen, whisper, barge in
    cluster: Any = None  # cluster_node.ClusterNode: queue work and registrations shared (redis)
    ports: list[Any] = field(default_factory=list)
    http_port_obj: Any = None
    sip_tls_port_obj: Any = None  # SIP over TLS (sip.tls set); also in ``ports``

    def start(self) -> None:
        """Bind the configured SIP transports (port 0 picks a free port, see ``sip_port``)."""
        if self.records is not None:
            self.records.start()  # replays what a previous run left, once the reactor runs
        cfg = self.config.sip
        # Port 0: UDP and TCP must end up on the same number; a TCP port someone else holds
        # means trying another number (a few times), not failing the start.
        for attempt in range(20 if cfg.port == 0 else 1):
            try:
                self._bind_sip()
                break
            except CannotListenError:
                for p in self.ports:
                    p.stopListening()
                self.ports.clear()
                # A fresh protocol for the next try: Twisted starts a protocol only when no
                # port holds it, and the old port lets go of it only later, so the old one
                # would keep sending through the closed socket (every reply lost).
                self.sip.udp = SipUdpProtocol(self.sip)
                if attempt == (19 if cfg.port == 0 else 0):
                    raise
        if cfg.port == 0 or (cfg.tls is not None and cfg.tls.port == 0):
            # the Via/Contact address must name the ports really bound
            self.switch.endpoint.set_local(
                LocalAddress(
                    self.switch.endpoint.local.host,
                    self.sip_port,
                    cfg.user_agent,
                    tls_port=self.sip_tls_port or None,
                )
            )
        log.info(
            "SIP listening on %s:%d (%s)",
            cfg.listen,
            self.sip_port,
            "/".join(t.upper() for t in cfg.transports),
        )
        if self.recording is not None:
            self.recording.start(recordings_dir(self.config))
            self.recording.retention.start()
        if self.ha is not None:
            self.ha.start()
        if self.cluster is not None:
            self.cluster.start(self.reactor)
        if self.services is not None:
            self.services.start()  # replays callback requests spooled while the DB was away
        if self.dialer is not None:
            self.dialer.start()
        if self.webhooks is not None:
            self.webhooks.start()
        if self.monitor is not None:
            self.monitor.start()
        if self.media is not None:
            self.media.start()
            log.info(
                "RTP anchored on %s ports %d-%d",
                self.media.core.local_ip,
                self.config.media.port_min,
                self.config.media.port_max,
            )
        if self.config.http.port >= 0:
            from cti_server.api.site import build_http_site

            self.http_site = build_http_site(self)
            if self.push is not None:
                self.http_site.mount_api(b"events", self.push.resource)
                self.push.start()
            from cti_server.api.pages import pages_resources

            for name, resource in pages_resources().items():  # /desktop/, /wallboard/, /
                self.http_site.mount(name, resource)  # mount pages / the events WebSocket on it
            http = self.config.http
            if http.tls is not None:
                from cti_server.adapters.tls_context import listen_https

                self.http_port_obj = listen_https(
                    self.reactor,
                    http.port,
                    self.http_site.site,
                    http.tls.cert,
                    http.tls.key,
                    http.listen,
                )
            else:
                self.http_port_obj = self.reactor.listenTCP(
                    http.port, self.http_site.site, interface=http.listen
                )
            log.info(
                "%s listening on %s:%d (/metrics, /api/v1, /api/v1/openapi.json)",
                "HTTPS" if http.tls is not None else "HTTP",
                http.listen,
                self.http_port,
            )

    def agent_input(self, item: Any) -> None:
        """An agent state change from the API; an illegal one raises (a 409 for the caller)."""
        now = self.reactor.seconds()
        try:
            self.switch.acd_input(item, now)
        finally:
            self.sip.flush()

    def _log_agents_out(self) -> None:
        """A stopping server ends its agents' sessions, so the agent state log (occupancy)
        does not show them busy or ready for the whole time it was down."""
        acd = self.center.acd if self.center is not None else None
        if acd is None or not acd.is_leader:
            return
        from acd.protocol import AgentLogout

        for row in acd.agents():
            if row["state"] != "logged_out":
                try:
                    self.agent_input(AgentLogout(agent_id=row["id"], reason="server_stopped"))
                except (ValueError, LookupError, RuntimeError):
                    log.exception("could not log agent %s out at shutdown", row["id"])

    @property
    def http_port(self) -> int:
        return int(self.http_port_obj.getHost().port) if self.http_port_obj else 0

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "calls": len(self.switch.controller.calls),
            "registered": self.switch.endpoint.registered_count(),
            "sip_port": self.sip_port,
            "timezone": self.config.timezone,
        }

    def _bind_sip(self) -> None:
        cfg = self.config.sip
        if "udp" in cfg.transports:
            udp_port = self.reactor.listenUDP(
                cfg.port, self.sip.udp, interface=cfg.listen, maxPacketSize=65535
            )
            grow_buffers(udp_port.getHandle(), cfg.socket_buffer)
            self.ports.append(udp_port)
        port = self.sip_port if self.ports else cfg.port
        if "tcp" in cfg.transports:
            self.ports.append(
                self.reactor.listenTCP(port, SipTcpFactory(self.sip), interface=cfg.listen)
            )
        if cfg.tls is not None:
            from cti_server.adapters.sip_tls import TlsConnector, listen_sip_tls
            from cti_server.adapters.tls_context import load_checked

            files = load_checked("sip.tls", cfg.tls.cert, cfg.tls.key, cfg.tls.ca)
            self.sip_tls_port_obj = listen_sip_tls(
                self.reactor, cfg.tls.port, self.sip, files, cfg.listen
            )
            self.ports.append(self.sip_tls_port_obj)
            self.sip.tls = TlsConnector(self.reactor, files)
            log.info("SIP over TLS listening on %s:%d", cfg.listen, self.sip_tls_port)

    @property
    def sip_tls_port(self) -> int:
        """The SIP over TLS port really bound (0: TLS is off)."""
        obj = self.sip_tls_port_obj
        return int(obj.getHost().port) if obj is not None else 0

    @property
    def sip_port(self) -> int:
        return int(self.ports[0].getHost().port) if self.ports else self.config.sip.port

    def stop(self) -> Any:
        if self.monitor is not None:
            self.monitor.stop()
        if self.dialer is not None:
            self.dialer.stop()
        if self.services is not None:
            self.services.stop()
        self._log_agents_out()
        self.sip.stop()
        if self.media is not None:
            self.media.stop()
        if self.recording is not None:
            self.recording.retention.stop()
            self.recording.stop()
        from twisted.internet.defer import gatherResults, maybeDeferred

        ports = self.ports + ([self.http_port_obj] if self.http_port_obj else [])
        waits = [maybeDeferred(p.stopListening) for p in ports]
        if self.cdr is not None:
            self.cdr.stop()
        if self.records is not None:  # after the calls above were torn down and recorded
            waits.append(self.records.stop(timeout=5.0))
        if self.push is not None:
            waits.append(maybeDeferred(self.push.stop))
        if self.http_site is not None:
            waits.append(maybeDeferred(self.http_site.close))
        if self.webhooks is not None:
            waits.append(maybeDeferred(self.webhooks.stop))
        if self.ha is not None:
            waits.append(maybeDeferred(self.ha.stop))  # give the lease back at once
        if self.cluster is not None:
            waits.append(self.cluster.stop())
        return gatherResults(waits)


def build_app(
    config: Config,
    reactor: Any,
    *,
    rng: random.Random | None = None,
    extra_accounts: list[Account] | None = None,
) -> App:
    ids = IdFactory(
        rng or random.SystemRandom(), host=config.sip.advertised_host or config.sip.listen
    )
    prompts = None
    if config.media.mode == "anchor":  # music on hold always; prompt languages routes use
        languages = {
            r.language or config.language
            for r in config.routes
            if r.announce or r.voicemail or r.target.startswith("queue:")
        }
        if flow_names(config):
            languages |= {"ko", "en"}  # a flow lets the caller choose
        prompts = load_prompt_source(config.data_dir, languages)
    center = build_contact_center(config, rng or random.SystemRandom(), ids.sequence)
    switch = build_switch(
        config,
        ids,
        nonce_secret(Path(config.data_dir)),
        rng or random.SystemRandom(),
        prompts,
        ivr=center.flows,
        acd=center.acd,
    )
    for account in extra_accounts or []:
        if switch.endpoint.accounts.get(account.user) is None:  # the config file wins
            switch.endpoint.accounts.put(account)
    bus = EventBus()
    bus.subscribe(EventLogger(config.timezone))
    from cti_server.adapters.webhook_service import attach_webhook_metrics, build_webhook_service
    from cti_server.storage import Database

    webhooks = build_webhook_service(config.webhooks, Database.from_config(config), reactor)
    records = build_record_writer(config, reactor, webhooks)
    cdr = CdrService(records, reactor)
    bus.subscribe(cdr.on_event)
    registry, counters = build_registry(switch)
    attach_process_gauges(registry, reactor)  # memory, descriptors, timers: the soak reads them
    attach_webhook_metrics(registry, lambda: webhooks)
    bus.subscribe(counters)
    acd_holder = center.acd
    if acd_holder is not None:
        queue_names = [q.name for q in config.acd.queues]
        attach_acd(registry, counters, lambda: acd_holder, queue_names, clock=reactor.seconds)
    attach_bus(registry, bus)
    attach_dialer(registry, bus, [q.name for q in config.acd.queues])
    from cti_server.api.push_wiring import build_event_push

    holder: list[App] = []  # the push authenticates through the app's HTTP site, built later
    push = build_event_push(
        config,
        reactor,
        bus,
        lambda token: holder[0].http_site.authenticate(token),
        registry=registry,
    )
    sip = SipService(switch, bus, reactor)
    ha = None
    if config.redis.url and center.acd is not None:
        from cti_server.hot_standby import build_hot_standby

        ha = build_hot_standby(config, reactor, bus, center.acd, sip, rng)
    services = None
    if center.flows is not None or center.acd is not None:
        services = build_call_services(config, reactor, sip.service_done, switch.controller.calls)
        sip.on_requests = services.submit
    dialer = None
    if center.acd is not None:
        from cti_server.adapters.dialer_service import build_dialer_service

        dialer = build_dialer_service(
            config, reactor, sip, center.acd, bus, rng or random.SystemRandom()
        )
    call_control = None
    if center.acd is not None or center.flows is not None:
        from cti_server.adapters.desk_calls import build_desk_calls

        call_control = build_desk_calls(config, sip, center.acd, reactor)
        if webhooks is not None:
            call_control.on_contact = webhooks.contact_hook
    media = None
    recording = None
    monitor = None
    if switch.media is not None:
        media = MediaService(switch.media, reactor, reactor, sip.media_events)
        sip.after_flush = media.sync_ports
        recording = build_recording(config, switch, reactor, ids)
        from cti_server.adapters.monitor_control import build_monitor_control

        monitor = build_monitor_control(config, sip, reactor)
        attach_recording(registry, lambda: recording)
        bus.subscribe(recording.on_event)
        media.on_tick = recording.on_tick
    app = App(
        config=config,
        reactor=reactor,
        bus=bus,
        switch=switch,
        sip=sip,
        registry=registry,
        media=media,
        recording=recording,
        center=center,
        services=services,
        ha=ha,
        records=records,
        cdr=cdr,
        dialer=dialer,
        push=push,
        call_control=call_control,
        webhooks=webhooks,
        monitor=monitor,
    )
    if isinstance(center.acd, ClusterAcd):
        from cti_server.cluster_node import build_cluster_node

        app.cluster = build_cluster_node(config, center.acd, sip, reactor)
    holder.append(app)
    return app
