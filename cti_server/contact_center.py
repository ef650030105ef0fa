"""The contact-center parts of the server, built from the config: flows, queues, customers.

``build_contact_center`` runs before the reactor (reading flow files and migrating the
database may block there). It returns what ``build_app`` wires into the call controller
(the flow factory and the distributor) and into the edges (the thread-pool services).
A config without ``flow:`` routes and without queues builds nothing: the server is then
the plain B2BUA of the foundation.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from acd.cluster import ClusterAcd
from acd.distributor import Distributor
from cti_server.config import Config, ConfigError
from ivr_flows.book import FlowBook
from ivr_flows.loader import default_flows_dir, load_flows
from ivr_flows.schema import Flow

log = logging.getLogger(__name__)


def flow_names(config: Config) -> set[str]:
    """Flows the number plan sends calls to."""
    return {r.target.partition(":")[2] for r in config.routes if r.target.startswith("flow:")}


def flows_dir(config: Config) -> Path:
    return Path(config.ivr.flows_dir) if config.ivr.flows_dir else default_flows_dir()


def load_config_flows(config: Config) -> dict[str, Flow]:
    """Every flow in the flows directory, checked against the prompts and queues; and every
    flow a route names must be among them. Raises ``ConfigError`` (``file:line: reason``)."""
    from cti_server.media.prompts import load_catalog

    wanted = flow_names(config)
    if not wanted:
        return {}
    directory = flows_dir(config)
    flows = load_flows(
        directory,
        known_prompts=set(load_catalog().prompt_ids),
        known_queues={q.name for q in config.acd.queues},
    )
    missing = sorted(wanted - set(flows))
    if missing:
        raise ConfigError(
            [
                f"{directory}: no flow named {name!r} (a route targets flow:{name})"
                for name in missing
            ]
        )
    return flows


def node_id(config: Config) -> str:
    """This node's name in the cluster and in the leader lease: unique per process."""
    return config.redis.node_id or f"{socket.gethostname()}-{os.getpid()}"


class AcdHolder:
    """The distributor the controller and the API talk to, swappable as a whole: a standby
    node promoted to leader replaces it with one restored from the leader's snapshot.
    ``active`` is False on a standby: it takes no queued calls and changes no agent state."""

    def __init__(self, current: Distributor, *, active: bool = True) -> None:
        self.current = current
        self.active = active

    @property
    def is_leader(self) -> bool:
        return self.active

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)


@dataclass
class ContactCenter:
    flows: FlowBook | None
    acd: AcdHolder | ClusterAcd | None
    reload_flows: Callable[[], list[str]]


def build_contact_center(config: Config, rng: Any, new_id: Callable[[str], str]) -> ContactCenter:
    acd: AcdHolder | ClusterAcd | None = None
    if config.acd.queues and config.redis.url and config.redis.cluster:
        acd = ClusterAcd(Distributor(config.acd, rng), node_id(config))
    elif config.acd.queues:
        acd = AcdHolder(Distributor(config.acd, rng))
    book: FlowBook | None = None
    flows = load_config_flows(config)
    if flows:
        book = FlowBook(
            flows,
            tz=ZoneInfo(config.timezone),
            queues=acd if acd is not None else _NoQueues(),
            new_request_id=lambda: new_id("Q"),
        )
        log.info("IVR flows from %s: %s", flows_dir(config), ", ".join(sorted(flows)))

    def reload_flows() -> list[str]:
        fresh = load_config_flows(config)
        if book is not None:
            book.replace(fresh)
        log.info("IVR flows reloaded: %s", ", ".join(sorted(fresh)))
        return sorted(fresh)

    return ContactCenter(book, acd, reload_flows)


class _NoQueues:
    def estimated_wait(self, queue: str) -> float | None:
        return None


def build_call_services(config: Config, reactor: Any, deliver: Any, calls: Any) -> Any:
    """The thread-pool side of IVR logins, callbacks and screen pops, on the configured DB."""
    from cti_server.adapters.call_services import CallServices
    from cti_server.crm.screenpop import build_screen_pop
    from cti_server.storage import Database
    from cti_server.storage.callback_spool import CallbackSpool
    from cti_server.storage.callbacks import CallbackRepo
    from cti_server.storage.customers import CustomerDirectory

    database = Database.from_config(config)
    directory = CustomerDirectory.from_config(config, database)
    spool = CallbackSpool(CallbackRepo(database), Path(config.data_dir) / "callback_spool")

    def screen_pop(customer_id: str, auth_method: str | None) -> dict[str, Any] | None:
        pop = build_screen_pop(
            directory,
            customer_id,
            auth_method=auth_method or "",
            auth_outcome="ok" if auth_method else "not_authenticated",
        )
        return None if pop is None else pop.to_dict()

    def request_callback(number: str, queue: str, **kw: Any) -> tuple[str, bool]:
        return spool.request(number, queue, **kw)

    def caller_of(call_id: str) -> str:
        call = calls.get(call_id)
        return str(call.caller) if call is not None else ""

    return CallServices(
        reactor,
        deliver,
        directory=directory,
        request_callback=request_callback,
        screen_pop=screen_pop,
        callers=caller_of,
        spool=spool,
    )
