"""The Grafana dashboard against the metrics it draws (Grafana itself cannot be installed).

Every metric name in every PromQL expression must be a sample the server exports: the
registry is built as ``cti_server/app.py`` builds it and fed events until every family has
samples. The exposition must pass ``promtool check metrics``, and every expression must
parse (``promtool check rules`` on a rules file made of them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.unit.metrics_prom import populated

DASHBOARD = Path(__file__).resolve().parent.parent / "metrics" / "grafana" / "cti-dashboard.json"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
NOT_METRICS |= {"and", "or", "unless", "inf", "nan", "Inf", "NaN"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions
    (followed by ``(``), keywords, label names in matchers or grouping clauses, or Grafana
    variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # range durations
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        if name in NOT_METRICS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(name)
    return names


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every target and every templating query."""
    found = [
        (panel["title"], target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert inner, f"unexpected variable query {query!r}"
            found.append((f"${variable['name']}", inner.group(1)))
    return found


@pytest.fixture(scope="module")
def exposition() -> str:
    return generate_latest(populated().registry).decode()


def exported(text: str) -> tuple[set[str], dict[str, str]]:
    """Sample names with at least one sample, and family name -> type."""
    samples = {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    types = dict(
        line.split()[2:4]  # type: ignore[misc]
        for line in text.splitlines()
        if line.startswith("# TYPE ")
    )
    return samples, types


def test_the_name_parser() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le, queue) (rate(cti_queue_wait_seconds_bucket{queue=~"$q"'
        ',outcome="answered"}[$__rate_interval]))) / ignoring(queue) group_left sum(up) * 1e3'
    )
    assert metric_names(expr) == {"cti_queue_wait_seconds_bucket", "up"}
    assert metric_names('cti_agents{state!="logged_out"} > bool 2') == {"cti_agents"}


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"] and HANGUL.search(board["title"])
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    kinds = {variable["name"]: variable["type"] for variable in board["templating"]["list"]}
    assert kinds.get("datasource") == "datasource"
    for panel in panels(board):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert HANGUL.search(panel["title"]) or panel["type"] == "row", panel["title"]
        assert re.search(r"[A-Za-z]{2}", panel["title"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_every_metric_the_dashboard_uses_is_exported(exposition: str) -> None:
    samples, types = exported(exposition)
    missing = []
    for where, expr in expressions(dashboard()):
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names:
            base = name
            for suffix in HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and types.get(name.removesuffix(suffix)) == "histogram":
                    base = name.removesuffix(suffix)
            family_known = base in types or base.removesuffix("_total") in types
            if name not in samples or not family_known:
                missing.append(f"{where}: {name}")
    assert not missing, "not in /metrics:\n" + "\n".join(missing)


def test_the_dashboard_shows_the_required_figures() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions(dashboard())))
    for name in (
        "cti_queue_calls_waiting",
        "cti_queue_longest_wait_seconds",
        "cti_agents",
        "cti_queue_service_level_ratio",
        "cti_queue_answer_rate_ratio",
        "cti_calls_total",
        "cti_queue_wait_seconds_bucket",
        "cti_call_handle_seconds_bucket",
        "sip_messages_received_total",
        "sip_messages_dropped_total",
        "cti_rtp_packets_lost_total",
        "cti_rtp_jitter_seconds",
        "cti_calls_active",
        "cti_recordings_written_total",
        "cti_ivr_logins_total",
    ):
        assert name in used, name


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed: apt-get install prometheus (scripts/setup)")
    return path


def test_promtool_accepts_the_exposition(exposition: str) -> None:
    done = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_promtool_parses_every_dashboard_expression(tmp_path: Path) -> None:
    rules = []
    for i, (_, expr) in enumerate(expressions(dashboard())):
        concrete = expr.replace("$__rate_interval", "1m").replace("$queue", ".*")
        rules.append({"record": f"dashboard:expr_{i}", "expr": concrete})
    path = tmp_path / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
