"""Whether a parsed flow hangs together: references resolve, nodes are reachable, no loop spins.

Pure (the loader turns locations into ``file:line``). Checked here, after the schema:
every node named by ``start``/``next``/branches exists; every node is reachable from
``start``; prompts, queues and hours schedules exist; variables read are built in or written
somewhere in the flow; built-in variables are not written (except ``language``); secure
digits do not leave through templates or a callback number; and no cycle is made only of
nodes that never wait (set, branch, goto, hours, enqueue, transfer), since such a cycle would
spin without the caller or the host ever being asked anything.
"""

from __future__ import annotations

from collections import defaultdict

from ivr_flows.conditions import Loc
from ivr_flows.schema import WAITING_KINDS, CallbackNode, CollectNode, Flow, Ref, refs
from ivr_flows.variables import BUILTINS, READ_ONLY

Problem = tuple[Loc, str]


def check_flow(
    flow: Flow,
    *,
    known_prompts: set[str],
    known_queues: set[str],
    broken_nodes: frozenset[str] = frozenset(),
) -> list[Problem]:
    """``broken_nodes``: ids that failed the schema (they exist, but their edges are unknown,
    so reachability is not judged)."""
    found = list(refs(flow))
    written = {r.value for r in found if r.kind == "var_write"}
    secure = {n.into for n in flow.nodes.values() if isinstance(n, CollectNode) and n.secure}
    context = _Context(flow, known_prompts, known_queues, broken_nodes, written, secure)
    problems = [(r.loc, msg) for r in found if (msg := context.problem(r))]
    for node_id, node in flow.nodes.items():
        if isinstance(node, CallbackNode) and node.number_var in secure:
            problems.append(
                ((*_at(node_id), "number_var"), f"variable {node.number_var!r} is collected secure")
            )
    edges = _edges(found)
    if flow.start in flow.nodes and not broken_nodes:
        problems += _unreachable(flow, edges)
    problems += _loops(flow, edges)
    return problems


class _Context:
    def __init__(
        self,
        flow: Flow,
        prompts: set[str],
        queues: set[str],
        broken: frozenset[str],
        written: set[str],
        secure: set[str],
    ) -> None:
        self.flow, self.prompts, self.queues = flow, prompts, queues
        self.node_ids = set(flow.nodes) | broken
        self.variables = BUILTINS | written
        self.secure = secure

    def problem(self, ref: Ref) -> str | None:
        kind, value = ref.kind, ref.value
        if kind == "node" and value not in self.node_ids:
            return f"unknown node {value!r}"
        if kind == "prompt" and value not in self.prompts:
            return f"unknown prompt {value!r}"
        if kind == "queue" and value not in self.queues:
            return f"unknown queue {value!r} (known: {', '.join(sorted(self.queues)) or 'none'})"
        if kind == "hours" and value not in self.flow.hours:
            known = ", ".join(sorted(self.flow.hours)) or "none"
            return f"unknown hours schedule {value!r} (known: {known})"
        if kind == "var_write" and value in READ_ONLY:
            return f"variable {value!r} is read-only"
        if kind in ("var_read", "template_var") and value not in self.variables:
            return f"unknown variable {value!r}"
        if kind == "template_var" and value in self.secure:
            return f"variable {value!r} holds secure digits and cannot be used in a template"
        return None


def _at(node_id: str) -> Loc:
    return ("nodes", node_id)


def _edges(found: list[Ref]) -> dict[str, list[str]]:
    """Node -> nodes it may go to (``start`` under the key ``""``)."""
    edges: dict[str, list[str]] = defaultdict(list)
    for ref in found:
        if ref.kind != "node":
            continue
        source = str(ref.loc[1]) if ref.loc[0] == "nodes" else ""
        edges[source].append(ref.value)
    return edges


def _unreachable(flow: Flow, edges: dict[str, list[str]]) -> list[Problem]:
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target in flow.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return [
        (_at(node_id), f"node {node_id!r} is not reachable from start {flow.start!r}")
        for node_id in flow.nodes
        if node_id not in seen
    ]


def _loops(flow: Flow, edges: dict[str, list[str]]) -> list[Problem]:
    busy = {n for n, node in flow.nodes.items() if node.type not in WAITING_KINDS}
    reported: set[frozenset[str]] = set()
    problems: list[Problem] = []
    for first in flow.nodes:
        if first not in busy:
            continue
        cycle = _cycle_through(first, busy, edges)
        if cycle is not None and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            text = " -> ".join([*cycle, first])
            problems.append((_at(first), f"loop {text} never waits for the caller"))
    return problems


def _cycle_through(first: str, busy: set[str], edges: dict[str, list[str]]) -> list[str] | None:
    """A path first -> ... -> first through non-waiting nodes only, if there is one."""
    stack: list[tuple[str, list[str]]] = [(first, [first])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in edges.get(node, []):
            if target == first:
                return path
            if target in busy and target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None
