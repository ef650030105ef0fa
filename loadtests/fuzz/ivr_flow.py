"""Fuzz target ``ivr_flow``: IVR flow files (YAML -> schema -> reference checks).

An input is the bytes of a flow file. Text that is UTF-8 goes through ``parse_flow``, the rest
through ``load_flow`` on a file (the path a bad file takes at start-up). Accepted: only
``ConfigError`` whose every problem reads ``file:line: reason``. A flow that loads must also
list its references (``schema.refs``) without error. Mutation is mostly structure-aware: the
YAML tree is edited with keys from the schema and the seeds (``YamlMutator``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import atheris
from pydantic import BaseModel

from loadtests.fuzz.common import (
    ROOT,
    YAML_TOKENS,
    check_problems,
    fuzz_main,
    string_constants,
    tricky_tokens,
)
from loadtests.fuzz.mutators import YamlMutator

with atheris.instrument_imports(include=["cti_server", "ivr_flows"]):
    from cti_server.media.prompts import load_catalog
    from cti_server.yaml_lines import ConfigError
    from ivr_flows import conditions, hours, schema
    from ivr_flows.loader import default_flows_dir, load_flow, parse_flow

FILENAME = "<fuzz flow>"
PROMPTS = set(load_catalog().prompt_ids)
QUEUES = {"general", "express", "vip"}
WORK = Path(tempfile.gettempdir()) / f"cti-fuzz-flow-{os.getpid()}.yaml"


def test_one_input(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        WORK.write_bytes(data)
        try:
            _check(lambda: load_flow(WORK, known_prompts=PROMPTS, known_queues=QUEUES), WORK)
        finally:
            WORK.unlink()
        return
    _check(lambda: parse_flow(text, FILENAME, known_prompts=PROMPTS, known_queues=QUEUES))


def _check(load: Callable[[], schema.Flow], path: Path | None = None) -> None:
    try:
        flow = load()
    except ConfigError as exc:
        check_problems(exc.problems, FILENAME if path is None else str(path))
        return
    list(schema.refs(flow))


def seeds() -> list[bytes]:
    out = [p.read_bytes() for p in sorted(default_flows_dir().glob("*.yaml"))]
    tests = sorted((ROOT / "tests" / "unit" / "ivr_flows").glob("*.py"))
    out += [dedent(s).encode() for s in string_constants(tests, r"(?m)^\s*nodes:")]
    return out


def vocabulary() -> list[str]:
    """Every field name of the flow schema, so the mutator can add what the schema reads."""
    names: set[str] = set()
    for module in (schema, conditions, hours):
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, BaseModel):
                for name, info in model.model_fields.items():
                    names.add(info.alias or name)
    return sorted(names)


def main() -> None:
    corpus = seeds()
    fuzz_main(
        "ivr_flow",
        test_one_input,
        corpus,
        max_len=8192,
        dictionary=[t.encode() for t in YAML_TOKENS] + tricky_tokens(),
        custom_mutator=YamlMutator(corpus, vocabulary()),
    )


if __name__ == "__main__":
    main()
