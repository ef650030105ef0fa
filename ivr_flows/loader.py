"""Reading flow files: YAML -> validated ``Flow``, or every problem as ``file:line: reason``.

The only module of ``ivr_flows`` that touches files. A flow is checked in two passes: the
schema (``ivr_flows.schema``, pydantic) and the references between its parts
(``ivr_flows.checks``). When some nodes fail the schema the others are still checked, so one
run of the loader reports as much as it can, sorted by line.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from cti_server.yaml_files import read_text
from cti_server.yaml_lines import ConfigError, line_of, load_yaml
from ivr_flows.checks import check_flow
from ivr_flows.conditions import Loc
from ivr_flows.schema import Flow, Node

__all__ = ["default_flows_dir", "load_flow", "load_flows", "parse_flow"]

_NODE: TypeAdapter[Any] = TypeAdapter(Node)
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "none", "compare"})


def default_flows_dir() -> Path:
    """The flows shipped with the package (``ivr_flows/flows``)."""
    return Path(str(resources.files("ivr_flows") / "flows"))


def load_flow(path: str | Path, *, known_prompts: set[str], known_queues: set[str]) -> Flow:
    return _load(Path(path), known_prompts, known_queues)[0]


def load_flows(
    directory: str | Path, *, known_prompts: set[str], known_queues: set[str]
) -> dict[str, Flow]:
    """Every ``*.yaml`` in ``directory`` by flow name; all files' problems in one error."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError([f"{folder}:0: not a directory of flows"])
    flows: dict[str, Flow] = {}
    origin: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            flow, data = _load(path, known_prompts, known_queues)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if flow.name in flows:
            problems.append(
                f"{path}:{line_of(data, ('name',))}: name: flow {flow.name!r} is already "
                f"defined in {origin[flow.name]}"
            )
            continue
        flows[flow.name] = flow
        origin[flow.name] = path
    if problems:
        raise ConfigError(problems)
    return flows


def _load(path: Path, known_prompts: set[str], known_queues: set[str]) -> tuple[Flow, Any]:
    text = read_text(path)  # ConfigError "file:0: cannot read" when missing or not UTF-8
    return _parse(text, str(path), known_prompts, known_queues)


def parse_flow(
    text: str, filename: str = "<flow>", *, known_prompts: set[str], known_queues: set[str]
) -> Flow:
    """Validate a flow given as text (``filename`` only names it in problems)."""
    return _parse(text, filename, known_prompts, known_queues)[0]


def _parse(
    text: str, filename: str, known_prompts: set[str], known_queues: set[str]
) -> tuple[Flow, Any]:
    """The flow and the line-annotated data it came from (for later problems' lines)."""
    data = load_yaml(text, filename)  # a value PyYAML cannot build is a ConfigError too
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1: a flow file is a mapping with name, start and nodes"])
    _text_keys(data)
    flow, problems, broken = _validate(data)
    found: list[tuple[int, str, str]] = []
    for loc, msg in problems:
        clean = _strip_tags(data, loc)
        where = _where(clean)
        if not any(w == where for _, w, _ in found):  # a union reports once per member
            found.append((line_of(data, clean), where, msg))
    if flow is not None:
        for loc, msg in check_flow(
            flow, known_prompts=known_prompts, known_queues=known_queues, broken_nodes=broken
        ):
            present, default = _present(data, loc)
            if default is not None:
                msg += f" (the default of {default})"
            found.append((line_of(data, loc), _where(present), msg))
    if found:
        found.sort(key=lambda p: p[0])
        raise ConfigError([f"{filename}:{line}: {where}: {msg}" for line, where, msg in found])
    assert flow is not None
    return flow, data


def _validate(data: dict[Any, Any]) -> tuple[Flow | None, list[tuple[Loc, str]], frozenset[str]]:
    """The flow, or the schema problems and a flow of the nodes that passed (to check too)."""
    try:
        return Flow.model_validate(data), [], frozenset()
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), _message(e)) for e in exc.errors()]
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        return None, problems, frozenset()
    good: dict[Any, Any] = {}
    for node_id, raw in nodes.items():
        try:
            _NODE.validate_python(raw)
        except ValidationError:
            continue
        good[node_id] = raw
    broken = frozenset(str(n) for n in nodes if n not in good)
    try:
        return Flow.model_validate({**data, "nodes": good}), problems, broken
    except ValidationError:
        return None, problems, broken


def _message(error: ErrorDetails) -> str:
    ctx = error.get("ctx", {})
    if error["type"] == "union_tag_invalid":
        known = ctx.get("expected_tags", "").replace("'", "")
        return f"unknown node type {ctx.get('tag')!r} (known: {known})"
    if error["type"] == "union_tag_not_found":
        return "a node needs type: <kind>"
    return error["msg"].removeprefix("Value error, ")


def _text_keys(data: Any) -> None:
    """YAML reads ``1:`` as the int 1; make such keys text, keeping their recorded lines."""
    if isinstance(data, dict):
        lines = getattr(data, "lines", None)
        items = list(data.items())
        if any(isinstance(k, int) and not isinstance(k, bool) for k, _ in items):
            data.clear()
            for key, value in items:
                text = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
                data[text] = value
                if lines is not None and key in lines and text != key:
                    lines[text] = lines.pop(key)
        for value in data.values():
            _text_keys(value)
    elif isinstance(data, list):
        for item in data:
            _text_keys(item)


_MISSING = object()


def _strip_tags(data: Any, loc: Loc) -> Loc:
    """A pydantic location without union tags (node kinds, condition forms, type names),
    which are not in the file; names of missing fields are kept."""
    out: list[str | int] = []
    node = data
    parts = list(loc)
    for i, part in enumerate(parts):
        following = parts[i + 1] if i + 1 < len(parts) else None
        if isinstance(node, dict) and part in node:
            if part in ("all", "any", "not") and following == part:
                continue  # the condition form's tag, then its field of the same name
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif node is not _MISSING and _is_tag(part, node):
            continue
        else:
            out.append(part)
            node = _MISSING
    return tuple(out)


def _is_tag(part: str | int, node: Any) -> bool:
    if not isinstance(part, str):
        return False
    if not isinstance(node, dict):
        return True  # a scalar (or list) has no fields: the rest names union members
    return (
        part == node.get("type")
        or part in _TYPE_NAMES
        or part[:1].isupper()
        or "[" in part
        or part.startswith("function-")
    )


def _present(data: Any, loc: Loc) -> tuple[Loc, str | int | None]:
    """The part of a location that is in the file, and the field whose default it stops at
    (a default value has no line of its own)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        inside_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (isinstance(node, dict) and part in node) and not inside_list:
            return tuple(out), part if isinstance(node, dict) and len(out) >= 2 else None
        node = node[part]
        out.append(part)
    return tuple(out), None


def _where(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"
