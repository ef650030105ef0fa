"""Loading flow files: every kind of bad file is reported as ``file:line: reason``, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cti_server.config import ConfigError
from ivr_flows.loader import default_flows_dir, load_flow, load_flows
from ivr_flows.schema import Flow

from .driver import PROMPTS

QUEUES = {"general"}


def _problems(tmp_path: Path, text: str, name: str = "flow.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_flow(path, known_prompts=PROMPTS, known_queues=QUEUES)
    prefix = f"{path}:"
    assert all(p.startswith(prefix) for p in caught.value.problems), caught.value.problems
    assert str(caught.value) == "\n".join(caught.value.problems)
    return [p.removeprefix(prefix) for p in caught.value.problems]


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        nodes:
          a: {type: hangup
    """
    assert _problems(tmp_path, text) == [
        "5: YAML syntax: expected ',' or '}', but got '<stream end>'"
    ]


def test_not_a_mapping_and_unreadable(tmp_path: Path) -> None:
    assert _problems(tmp_path, "- a\n- b\n") == [
        "1: a flow file is a mapping with name, start and nodes"
    ]
    with pytest.raises(ConfigError, match=r"missing\.yaml:0: cannot read"):
        load_flow(tmp_path / "missing.yaml", known_prompts=PROMPTS, known_queues=QUEUES)


def test_schema_errors_all_reported_with_lines(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        bogus: 1
        nodes:
          a:
            type: play
            prompts: [greeting]
            next: b
            loud: true
          b:
            type: menu
            prompt: choose_language
            options: {"1": a, x: a}
            retries: -1
            on_failure: a
          c:
            type: collect
            prompt: enter_pin
            into: pin
            min_length: 6
            max_length: 4
            next: a
            on_failure: a
          d:
            type: teleport
            next: a
          e: {prompts: [greeting]}
          f: {type: play, prompts: [greeting]}
    """
    assert _problems(tmp_path, text) == [
        "3: bogus: Extra inputs are not permitted",
        "9: nodes.a.loud: Extra inputs are not permitted",
        "13: nodes.b.options.x: key 'x' must be one of 0-9, *, # or A-D",
        "14: nodes.b.retries: Input should be greater than or equal to 0",
        "16: nodes.c: min_length 6 is greater than max_length 4",
        "24: nodes.d: unknown node type 'teleport' (known: play, menu, collect, lookup, "
        "authenticate, set, branch, goto, hours, enqueue, transfer, voice_message, callback, "
        "hangup)",
        "27: nodes.e: a node needs type: <kind>",
        "28: nodes.f.next: Field required",
    ]


def test_unknown_start_targets_prompts_queues_and_schedules(tmp_path: Path) -> None:
    text = """
        name: t
        start: nowhere
        nodes:
          a:
            type: play
            prompts: [greeting, helo]
            next: b
          b:
            type: hours
            schedule: office
            open: c
            closed: zz
          c:
            type: enqueue
            queue: sales
          d:
            type: menu
            prompt: choose_language
            options:
              1: {next: a}
              2: gone
            on_failure: a
    """
    assert _problems(tmp_path, text) == [
        "2: start: unknown node 'nowhere'",
        "6: nodes.a.prompts.1: unknown prompt 'helo'",
        "10: nodes.b.schedule: unknown hours schedule 'office' (known: none)",
        "12: nodes.b.closed: unknown node 'zz'",
        "15: nodes.c.queue: unknown queue 'sales' (known: general)",
        "21: nodes.d.options.2: unknown node 'gone'",
    ]


def test_unknown_default_prompt_names_the_field(tmp_path: Path) -> None:
    text = """
        name: t
        start: m
        nodes:
          m:
            type: menu
            prompt: choose_language
            options: {"1": m}
            timeout_prompt: goodbye
            on_failure: m
    """
    path = tmp_path / "f.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_flow(path, known_prompts={"choose_language"}, known_queues=QUEUES)
    assert caught.value.problems == [
        f"{path}:4: nodes.m: unknown prompt 'invalid_input' (the default of invalid_prompt)",
        f"{path}:8: nodes.m.timeout_prompt: unknown prompt 'goodbye'",
    ]


def test_unreachable_nodes(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        nodes:
          a: {type: play, prompts: [greeting], next: c}
          b:
            type: hangup
          c: {type: hangup}
    """
    assert _problems(tmp_path, text) == ["5: nodes.b: node 'b' is not reachable from start 'a'"]


def test_bad_conditions(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        nodes:
          a:
            type: branch
            cases:
              - when: {var: customer.vip, equals: true}
                next: b
              - when: {all: [{var: x, gt: abc}]}
                next: b
              - when: {var: x}
                next: b
              - when: {not: {var: x, in: 3}}
                next: b
            otherwise: b
          b: {type: hangup}
    """
    assert _problems(tmp_path, text) == [
        "7: nodes.a.cases.0.when: unknown condition operator 'equals' (use eq, ne, gt, ge, lt, "
        "le, in, exists, or all/any/not)",
        "9: nodes.a.cases.1.when.all.0: gt: needs a number",
        "11: nodes.a.cases.2.when: a condition needs exactly one of eq, ne, gt, ge, lt, le, "
        "in, exists",
        "13: nodes.a.cases.3.when.not: in: needs a list of values",
    ]


def test_condition_variables_must_exist(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        nodes:
          a:
            type: branch
            cases:
              - when: {any: [{var: custmer.vip, eq: true}, {var: now.hour, ge: 9}]}
                next: b
            otherwise: b
          b: {type: hangup}
    """
    assert _problems(tmp_path, text) == [
        "7: nodes.a.cases.0.when.any.0.var: unknown variable 'custmer.vip'"
    ]


def test_loops_that_never_wait(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        variables: {n: 0}
        nodes:
          a: {type: set, variables: {n: 1}, next: b}
          b:
            type: branch
            cases: [{when: {var: n, eq: 1}, next: a}]
            otherwise: c
          c: {type: goto, next: c}
    """
    assert _problems(tmp_path, text) == [
        "5: nodes.a: loop a -> b -> a never waits for the caller",
        "10: nodes.c: loop c -> c never waits for the caller",
    ]


def test_variables_read_only_secure_and_unknown(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        variables: {auth.outcome: ok}
        nodes:
          a:
            type: set
            variables: {customer.vip: true, language: en}
            next: p
          p:
            type: collect
            prompt: enter_pin
            into: pin
            secure: true
            next: t
            on_failure: t
          t: {type: transfer, kind: number, target: "${pin}${nope}"}
    """
    assert _problems(tmp_path, text) == [
        "3: variables.auth.outcome: variable 'auth.outcome' is read-only",
        "7: nodes.a.variables.customer.vip: variable 'customer.vip' is read-only",
        "16: nodes.t.target: variable 'pin' holds secure digits and cannot be used in a template",
        "16: nodes.t.target: unknown variable 'nope'",
    ]


def test_bad_hours_schedule(tmp_path: Path) -> None:
    text = """
        name: t
        start: a
        hours:
          office:
            weekly:
              mon-fry: "09:00-18:00"
              sat: "18:00-09:00"
              sun: "9-5"
            closed: ["2026-13-01"]
        nodes:
          a: {type: hours, schedule: office, open: b, closed: b}
          b: {type: hangup}
    """
    assert _problems(tmp_path, text) == [
        "6: hours.office.weekly.mon-fry: day 'mon-fry' must be one of mon, tue, wed, thu, fri, "
        "sat, sun or a range like mon-fri",
        "7: hours.office.weekly.sat.0: time range '18:00-09:00' must end after it starts",
        "8: hours.office.weekly.sun.0: time range '9-5' must look like 09:00-18:00",
        "9: hours.office.closed.0: Input should be a valid date or datetime, month value is "
        "outside expected range of 1-12",
    ]


def test_node_specific_rules(tmp_path: Path) -> None:
    text = """
        name: t
        start: l
        nodes:
          l: {type: lookup, by: national_id, found: q, not_found: q, error: q}
          q: {type: enqueue, queue: general, offer_callback_over: 60}
          v: {type: voice_message, agent: a, queue: general}
          c:
            type: collect
            prompt: enter_pin
            into: x
            on_key: {"1": q}
            next: q
            on_failure: q
    """
    assert _problems(tmp_path, text) == [
        "4: nodes.l: lookup by national_id needs value: <variable>",
        "5: nodes.q: offer_callback_over and callback go together",
        "6: nodes.v: a voice message goes to exactly one of agent or queue",
        "7: nodes.c: on_key '1' is a digit or the terminator; use * # or A-D",
    ]


def test_secure_callback_number_is_refused(tmp_path: Path) -> None:
    text = """
        name: t
        start: n
        nodes:
          n:
            type: collect
            prompt: enter_customer_number
            into: num
            secure: true
            next: cb
            on_failure: cb
          cb: {type: callback, queue: general, number_var: num, decline: n, on_error: n}
    """
    assert _problems(tmp_path, text) == [
        "11: nodes.cb.number_var: variable 'num' is collected secure"
    ]


def test_load_flows_reads_a_directory_and_refuses_duplicate_names(tmp_path: Path) -> None:
    good = "name: one\nstart: a\nnodes:\n  a: {type: hangup}\n"
    (tmp_path / "a.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(good.replace("one", "two"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    flows = load_flows(tmp_path, known_prompts=PROMPTS, known_queues=QUEUES)
    assert sorted(flows) == ["one", "two"] and isinstance(flows["one"], Flow)

    (tmp_path / "c.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "d.yaml").write_text("name: d\nstart: zz\nnodes:\n  a: {type: hangup}\n")
    with pytest.raises(ConfigError) as caught:
        load_flows(tmp_path, known_prompts=PROMPTS, known_queues=QUEUES)
    assert caught.value.problems == [
        f"{tmp_path / 'c.yaml'}:1: name: flow 'one' is already defined in {tmp_path / 'a.yaml'}",
        f"{tmp_path / 'd.yaml'}:2: start: unknown node 'zz'",
    ]
    with pytest.raises(ConfigError, match="not a directory"):
        load_flows(tmp_path / "a.yaml", known_prompts=PROMPTS, known_queues=QUEUES)


def test_default_flows_dir_is_shipped() -> None:
    assert (default_flows_dir() / "main.yaml").is_file()
