"""Reading agent-script files: YAML -> validated ``Script``, or problems as ``file:line: reason``.

The only module of the scripts that touches files. It parses with the config loader's YAML
(which keeps the line of every key and list item, ``cti_server.config.load_yaml``/``line_of``,
as the IVR flow loader does) and checks a script in two passes: the schema
(``script_schema``) and the tree (``scripts.script_problems``). When some steps fail the
schema the others are still checked, so one run reports as much as it can, sorted by line.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from cti_server.crm.script_schema import STEP_KINDS, Script, Step
from cti_server.crm.script_settings import ScriptSettings
from cti_server.crm.scripts import Problem, script_problems
from cti_server.yaml_files import load_named, read_text
from cti_server.yaml_lines import ConfigError, line_of, load_yaml
from ivr_flows.conditions import Loc

_STEP: TypeAdapter[Any] = TypeAdapter(Step)


def default_scripts_dir() -> Path:
    """The scripts shipped with the package (``cti_server/crm/scripts``)."""
    return Path(str(resources.files("cti_server.crm") / "scripts"))


def parse_script(text: str, filename: str = "<script>") -> Script:
    """Validate a script given as text (``filename`` only names it in problems)."""
    return _parse(text, filename)[0]


def load_script(path: str | Path) -> Script:
    return _load(Path(path))[0]


def load_scripts(directory: str | Path | None = None) -> dict[str, Script]:
    """Every ``*.yaml`` in ``directory`` (the shipped ones if None) by script name; all the
    files' problems in one :class:`ConfigError`."""
    scripts, problems = _load_all(Path(directory) if directory else default_scripts_dir())
    if problems:
        raise ConfigError(problems)
    return scripts


def check_scripts(
    settings: ScriptSettings,
    queue_names: Collection[str],
    *,
    campaign_names: Collection[str] | None = None,
) -> list[str]:
    """What ``cti-server check-config`` reports for the ``crm:`` section: broken script files,
    and queues, campaigns (when their names are given) and scripts it names that do not exist."""
    folder = Path(settings.scripts_dir) if settings.scripts_dir else default_scripts_dir()
    scripts, problems = _load_all(folder)
    known_scripts = ", ".join(sorted(scripts)) or "none"
    for section, names, mapping in (
        ("by_queue", queue_names, settings.by_queue),
        ("by_campaign", campaign_names, settings.by_campaign),
    ):
        for owner, script in mapping.items():
            where = f"crm.{section}.{owner}"
            if names is not None and owner not in names:
                kind = "queue" if section == "by_queue" else "campaign"
                problems.append(
                    f"{where}: unknown {kind} {owner!r} (known: {', '.join(sorted(names))})"
                )
            if script not in scripts:
                problems.append(
                    f"{where}: unknown script {script!r} in {folder} (known: {known_scripts})"
                )
    return problems


def _load_all(folder: Path) -> tuple[dict[str, Script], list[str]]:
    if not folder.is_dir():
        return {}, [f"{folder}:0: not a directory of scripts"]
    return load_named(folder, _parse, "script")


def _load(path: Path) -> tuple[Script, Any]:
    return _parse(read_text(path), str(path))


def _parse(text: str, filename: str) -> tuple[Script, Any]:
    """The script and the line-annotated data it came from."""
    try:
        data = load_yaml(text, filename)
    except ConfigError:
        raise
    except ValueError as exc:  # a YAML value that cannot be built, e.g. the date 2026-13-01
        raise ConfigError([f"{filename}:1: YAML value: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{filename}:1: a script file is a mapping with name, title, start and steps"]
        )
    script, problems = _validate(data)
    found: dict[tuple[int, str, str], None] = {}
    for loc, msg in problems:
        clean = _strip_tags(data, loc)
        found[(line_of(data, clean), _where(clean), msg)] = None
    if found:
        ordered = sorted(found, key=lambda p: p[0])
        raise ConfigError([f"{filename}:{line}: {where}: {msg}" for line, where, msg in ordered])
    assert script is not None
    return script, data


def _validate(data: dict[Any, Any]) -> tuple[Script | None, list[Problem]]:
    """The script, or the problems: the schema's, then the tree's among the steps that passed
    (their locations mapped back to the steps' places in the file)."""
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        in_steps = any(len(e["loc"]) > 1 and e["loc"][0] == "steps" for e in errors)
        problems: list[Problem] = [
            (tuple(e["loc"]), _message(e))
            for e in errors
            if not (in_steps and e["loc"] == ("steps",))  # "0 items" when every step failed
        ]
    else:
        return script, script_problems(script)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list):
        return None, problems
    good: list[int] = []
    broken: set[str] = set()
    for i, raw in enumerate(raw_steps):
        try:
            _STEP.validate_python(raw)
        except ValidationError:
            if isinstance(raw, dict) and isinstance(raw.get("id"), str | int):
                broken.add(str(raw["id"]))
            continue
        good.append(i)
    try:
        partial = Script.model_validate({**data, "steps": [raw_steps[i] for i in good]})
    except ValidationError:
        return None, problems
    for loc, msg in script_problems(partial, broken=frozenset(broken)):
        if loc[:1] == ("steps",) and isinstance(loc[1], int):
            loc = ("steps", good[loc[1]], *loc[2:])
        problems.append((loc, msg))
    return None, problems


def _message(error: ErrorDetails) -> str:
    ctx = error.get("ctx", {})
    if error["type"] == "union_tag_invalid":
        return f"unknown step kind {ctx.get('tag')!r} (known: {', '.join(STEP_KINDS)})"
    if error["type"] == "union_tag_not_found":
        return f"a step needs kind: {', '.join(STEP_KINDS)}"
    return error["msg"].removeprefix("Value error, ")


def _strip_tags(data: Any, loc: Loc) -> Loc:
    """A pydantic location without the step kind it adds after a step's index (not in the
    file); names of missing fields are kept."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part == node.get("kind"):
            continue
        out.append(part)
        inside_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        node = node[part] if inside_list or (isinstance(node, dict) and part in node) else None
    return tuple(out)


def _where(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


__all__ = [
    "check_scripts",
    "default_scripts_dir",
    "load_script",
    "load_scripts",
    "parse_script",
]
