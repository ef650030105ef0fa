"""DESIGN.md rule 2: sans-IO cores never import I/O, clocks or randomness.

Walks the direct imports of every core module statically, so a core that reaches for
``time.time()`` or a socket fails here rather than in a flaky test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_DIRS = [
    "cti_server/sip",
    "cti_server/rtp",
    "cti_server/call",
    "cti_server/events",
    "cti_server/push",
    "cti_server/auth",
    "cti_server/qa",
    "cti_server/media",
    "recording",
    "acd",
    "metrics",
    "ivr_flows",
]
CORE_FILES = [
    "cti_server/ids.py",
    "cti_server/actions.py",
    "cti_server/bus.py",
    "cti_server/state/lease.py",
]
EDGE_FILES = {
    "ivr_flows/loader.py",
    "metrics/prometheus.py",
    "metrics/reports.py",
    "cti_server/media/prompt_files.py",
    "cti_server/media/cli.py",
    "recording/sink.py",
    "recording/files.py",
    "recording/finisher.py",
}
BANNED = {"time", "random", "socket", "threading", "twisted", "sqlalchemy", "redis", "asyncio"}


def core_modules() -> list[Path]:
    files = [ROOT / f for f in CORE_FILES if (ROOT / f).exists()]
    for d in CORE_DIRS:
        files += sorted((ROOT / d).rglob("*.py"))
    return [f for f in files if str(f.relative_to(ROOT)) not in EDGE_FILES]


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        bad += [f"{n} (line {node.lineno})" for n in names if n.split(".")[0] in BANNED]
    assert not bad, f"{path.relative_to(ROOT)} imports {', '.join(bad)}"
