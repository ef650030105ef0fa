"""Pure wiring of the signalling path from a Config: accounts, trunks, registrar, endpoint,
number plan and controller joined into a CallSwitch. No I/O: the composition root
(``app.build_app``) and the core tests build exactly the same switch.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cti_server.call.controller import CallController
from cti_server.call.media_plan import MediaPlanner, PromptSource
from cti_server.call.model import ControllerSettings
from cti_server.call.routing import Router
from cti_server.call.services import IvrFactory
from cti_server.call.switch import CallSwitch
from cti_server.config import Config
from cti_server.ids import IdFactory, RandomSource
from cti_server.rtp.bridge import MediaCore
from cti_server.sip.access import AccessControl
from cti_server.sip.accounts import Account, AccountBook, Trunk, TrunkTable
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.digest import NonceFactory, ha1
from cti_server.sip.endpoint import EndpointSettings, SipEndpoint
from cti_server.sip.local import LocalAddress
from cti_server.sip.registrar import Registrar
from cti_server.sip.scan_guard import ScanSettings
from cti_server.sip.transaction import TransactionLayer


def accounts_from_config(config: Config) -> AccountBook:
    book = AccountBook()
    realm = config.sip.realm
    for a in config.accounts:
        md5 = a.ha1_md5 or (ha1(a.user, realm, a.password, "MD5") if a.password else None)
        sha = a.ha1_sha256 or (ha1(a.user, realm, a.password, "SHA-256") if a.password else None)
        algos = tuple(a.digest_algorithms) if a.digest_algorithms else None
        book.put(Account(a.user, md5, sha, a.display_name, algos))
    for t in config.trunks:
        if t.username and t.password:
            book.put(
                Account(
                    t.username,
                    ha1(t.username, realm, t.password, "MD5"),
                    ha1(t.username, realm, t.password, "SHA-256"),
                    trunk=t.name,
                )
            )
    return book


def build_switch(
    config: Config,
    ids: IdFactory,
    nonce_secret: bytes,
    rng: RandomSource,
    prompts: PromptSource | None = None,
    *,
    ivr: IvrFactory | None = None,
    acd: Any = None,
) -> CallSwitch:
    sip_cfg = config.sip
    local = LocalAddress(
        sip_cfg.advertised_host or sip_cfg.listen,
        sip_cfg.port,
        sip_cfg.user_agent,
        tls_port=sip_cfg.tls.port if sip_cfg.tls is not None else None,
    )
    accounts = accounts_from_config(config)
    trunks = TrunkTable(
        [
            Trunk(t.name, tuple(ipaddress.ip_network(n, strict=False) for n in t.allow_from))
            for t in config.trunks
        ]
    )
    registrar = Registrar(
        min_expires=sip_cfg.register_min_expires, max_expires=sip_cfg.register_max_expires
    )
    endpoint = SipEndpoint(
        local=local,
        ids=ids,
        txn=TransactionLayer(
            t1=sip_cfg.t1, t2=sip_cfg.t2, t4=sip_cfg.t4, max_transactions=sip_cfg.max_transactions
        ),
        access=AccessControl(
            accounts=accounts,
            guard=AuthGuard(
                sip_cfg.auth_max_failures,
                sip_cfg.auth_window,
                sip_cfg.auth_cooldown,
                locked_answers=sip_cfg.auth_locked_answers,
            ),
            nonces=NonceFactory(nonce_secret, sip_cfg.nonce_lifetime),
            realm=sip_cfg.realm,
            algorithms=tuple(sip_cfg.digest_algorithms),
        ),
        trunks=trunks,
        registrar=registrar,
        settings=EndpointSettings(
            max_message_size=sip_cfg.max_message_size, scan=ScanSettings.from_config(sip_cfg)
        ),
    )

    def locate(user: str, now: float) -> list[str]:
        return [b.contact for b in registrar.lookup(user, now)]

    planner = None
    if config.media.mode == "anchor":
        media_cfg = config.media
        media = MediaCore(
            local_ip=media_cfg.listen or sip_cfg.listen,
            port_min=media_cfg.port_min,
            port_max=media_cfg.port_max,
            rng=rng,
            rtp_timeout=media_cfg.rtp_timeout,
        )
        advertised = media_cfg.advertised_ip or sip_cfg.advertised_host or media.local_ip
        planner = MediaPlanner(media, advertised)
    controller = CallController(
        Router(list(config.routes), list(config.trunks)),
        locate,
        ids.sequence,
        ControllerSettings(
            ring_timeout=sip_cfg.ring_timeout,
            session_expires=sip_cfg.session_expires,
            language=config.language,
            voice_message_max=config.recording.voice_message_max,
        ),
        planner,
        prompts if planner is not None else None,
        ivr=ivr,
        acd=acd,
        auto_ready=config.acd.auto_ready,
    )
    return CallSwitch(endpoint, controller, planner.media if planner else None)
