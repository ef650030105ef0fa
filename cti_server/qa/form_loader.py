"""Reading evaluation forms: a directory of ``*.yaml`` -> validated forms by name, or problems
as ``file:line: reason``.

The only module of ``cti_server.qa`` that touches files. It parses with the config loader's
YAML (``cti_server.config.load_yaml``, which keeps the line of every key and list item, so a
problem points at the question it is about) and checks a form in two passes: the schema
(:class:`~cti_server.qa.forms.Form`), then what the schema cannot see
(:func:`~cti_server.qa.forms.form_problems`: ids used twice, nothing to earn). Every file of
the directory is read and all their problems come back in one :class:`ConfigError`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cti_server.qa.forms import Form, Loc, form_problems
from cti_server.yaml_files import load_named, read_text
from cti_server.yaml_lines import ConfigError, line_of, load_yaml


def default_forms_dir() -> Path:
    """The forms shipped with the package (``cti_server/qa/forms``)."""
    return Path(str(resources.files("cti_server.qa") / "forms"))


def parse_form(text: str, filename: str = "<form>") -> Form:
    """Validate a form given as text (``filename`` only names it in problems)."""
    return _parse(text, filename)[0]


def load_form(path: str | Path) -> Form:
    return _load(Path(path))[0]


def load_forms(directory: str | Path | None = None) -> dict[str, Form]:
    """Every ``*.yaml`` in ``directory`` (the shipped forms if None) by form name."""
    folder = Path(directory) if directory else default_forms_dir()
    if not folder.is_dir():
        raise ConfigError([f"{folder}:0: not a directory of evaluation forms"])
    forms, problems = load_named(folder, _parse, "form")
    if problems:
        raise ConfigError(problems)
    if not forms:
        raise ConfigError([f"{folder}:0: no evaluation forms (*.yaml) in this directory"])
    return forms


def _load(path: Path) -> tuple[Form, Any]:
    return _parse(read_text(path), str(path))


def _parse(text: str, filename: str) -> tuple[Form, Any]:
    """The form and the line-annotated data it came from."""
    try:
        data = load_yaml(text, filename)
    except ConfigError:
        raise
    except ValueError as exc:  # a YAML value that cannot be built, e.g. the date 2026-13-01
        raise ConfigError([f"{filename}:1: YAML value: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{filename}:1: an evaluation form is a mapping with name, title and sections"]
        )
    try:
        form = Form.model_validate(data)
    except ValidationError as exc:
        found = [(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        raise ConfigError(_lines(found, data, filename)) from None
    problems = form_problems(form)
    if problems:
        raise ConfigError(_lines(problems, data, filename))
    return form, data


def _lines(problems: list[tuple[Loc, str]], data: Any, filename: str) -> list[str]:
    """``file:line: where: reason``, sorted by line, each said once."""
    found: dict[tuple[int, str, str], None] = {}
    for loc, msg in problems:
        where = ".".join(str(p) for p in loc) or "(top level)"
        found[(line_of(data, loc), where, msg)] = None
    return [f"{filename}:{line}: {where}: {msg}" for line, where, msg in sorted(found)]


__all__ = ["default_forms_dir", "load_form", "load_forms", "parse_form"]
