"""Directories of YAML documents that each carry a ``name`` (agent scripts, evaluation forms),
read with ``file:line: reason`` problems like the config and the IVR flows.

``load_named(folder, parse, what)`` reads every ``*.yaml`` in ``folder`` with
``parse(text, filename) -> (document, raw data)`` (which raises ``ConfigError``), and returns
the documents by name with every problem found: a file that does not parse, a name defined
twice. The caller decides whether problems are fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cti_server.yaml_lines import ConfigError, line_of


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([f"{path}:0: cannot read: {reason}"]) from exc


def load_named(
    folder: Path, parse: Callable[[str, str], tuple[T, Any]], what: str
) -> tuple[dict[str, T], list[str]]:
    found: dict[str, T] = {}
    origin: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            document, data = parse(read_text(path), str(path))
        except ConfigError as exc:
            problems += exc.problems
            continue
        if document.name in found:
            problems.append(
                f"{path}:{line_of(data, ('name',))}: name: {what} {document.name!r} is already "
                f"defined in {origin[document.name]}"
            )
            continue
        found[document.name] = document
        origin[document.name] = path
    return found, problems
