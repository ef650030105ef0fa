"""YAML that remembers where everything came from: every mapping key and list item keeps its
line, so a validation error names ``file:line: where: reason`` (config, IVR flows, agent
scripts, evaluation forms all load through here)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError


class ConfigError(ValueError):
    """A config problem a person can fix; ``str()`` is ``file:line: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that records the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node, deep=True)] = key_node.start_mark.line + 1
    mapping_with_lines = _LinedDict(mapping)
    mapping_with_lines.lines = lines
    mapping_with_lines.line = node.start_mark.line + 1
    return mapping_with_lines


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = _LinedList(loader.construct_sequence(node, deep=True))
    items.lines = [child.start_mark.line + 1 for child in node.value]
    items.line = node.start_mark.line + 1
    return items


class _LinedDict(dict[Any, Any]):
    lines: dict[Any, int]
    line: int


class _LinedList(list[Any]):
    lines: list[int]
    line: int


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, filename: str) -> Any:
    """Parse YAML keeping line numbers; a syntax error becomes ``file:line: reason``."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{filename}:{line}: YAML syntax: {exc.problem}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}:1: YAML: {exc}"]) from exc
    except (ValueError, LookupError, AttributeError, OverflowError, RecursionError) as exc:
        # PyYAML cannot build a value: the date 2026-13-01 (ValueError), "!!int" with no
        # digits or "!!bool x" (IndexError, KeyError, AttributeError), the escape
        # "\U8001D7D7" (OverflowError), nesting past the recursion limit.
        reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError([f"{filename}:1: YAML value: {reason}"]) from exc


def line_of(data: Any, loc: tuple[int | str, ...]) -> int:
    """The deepest line known for a pydantic error location inside the loaded YAML."""
    line = getattr(data, "line", 1)
    node = data
    for part in loc:
        if isinstance(node, _LinedDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LinedList) and isinstance(part, int) and part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def format_validation_error(exc: ValidationError, data: Any, filename: str) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function"))
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{filename}:{line_of(data, loc)}: {where}: {msg}")
    return problems
