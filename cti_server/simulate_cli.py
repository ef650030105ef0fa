"""``cti-server simulate``: run a scenario's variants and strategies through the real ACD.

Hooked into the main parser with :func:`add_simulate_command`; :func:`simulate_command`
returns the exit status (0, or 1 with ``file:line: reason`` lines on stderr for a bad
scenario or an unknown variant). Each (variant, strategy, day) is one seeded run of
``acd.simulation``; every run of day ``d`` draws its callers from the same streams (seeded by
``seed`` and ``d``), so variants and strategies are compared on the same callers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from acd.scenario import Scenario, load_scenario
from acd.sim_figures import Tally, predict
from acd.simulation import RandomLike, RngFactory, simulate
from acd.strategies import STRATEGIES
from cti_server.config import ConfigError
from cti_server.sim_report import ResultRow, format_table, write_chart, write_csv

SHIPPED = Path(__file__).resolve().parent.parent / "acd" / "scenarios" / "proposal.yaml"

EPILOG = f"""examples:
  cti-server simulate                               the proposal's day ({SHIPPED.name})
  cti-server simulate --variant baseline --variant screen_pop --strategy longest_idle
  cti-server simulate --scenario my.yaml --days 5 --seed 7 --out /tmp/sim

columns (per day; rates over offered inbound calls, see acd/sim_figures.py):
  ans%  answered / offered          srv%  (answered + callbacks handled) / offered
  SL%   answered within T / offered ASA   mean wait of answered calls (s, ringing included)
  abn%  abandoned / offered         occ%  (talk + wrap-up) / logged-in time
  AHT   (talk + wrap-up) / call     Gini  of handled calls per agent (0 = even)
  c/agt handled calls per agent     cb req/done  callback requests / callbacks handled
  C ... Erlang C, A ... Erlang A predictions for the same load, hour by hour
        (Erlang C ASA is inf when some hour's load reaches its agents: no patience,
        no steady state; its SL counts such hours as 0)
"""


def add_simulate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to the ``cti-server`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="simulate a contact-center day through the ACD and compare variants",
        description="Simulate the scenario's day (arrivals, patience, talk time, shifts) "
        "through the real ACD distributor for every variant and strategy; print the answer "
        "rate, service level, ASA, abandons, occupancy and fairness next to Erlang C/A "
        "predictions, and write simulation.csv and simulation.png.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=simulate_command)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", type=Path, default=SHIPPED, help=f"scenario YAML (default: {SHIPPED.name})"
    )
    parser.add_argument(
        "--strategy",
        action="append",
        choices=sorted(STRATEGIES),
        metavar="NAME",
        help="ACD strategy to compare (repeatable; default: the scenario's list). "
        f"One of: {', '.join(sorted(STRATEGIES))}",
    )
    parser.add_argument(
        "--variant", action="append", metavar="NAME", help="variant (repeatable; default: all)"
    )
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    parser.add_argument("--days", type=int, default=1, help="days per cell (default: 1)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("./data/simulation"),
        help="where simulation.csv and simulation.png go (default: ./data/simulation)",
    )


def simulate_command(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
        variants = _variants(scenario, args.variant, str(args.scenario))
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(problem + "\n")
        return 1
    if args.days < 1:
        sys.stderr.write("--days must be at least 1\n")
        return 1
    seed = scenario.seed if args.seed is None else args.seed
    strategies: list[str | None] = list(args.strategy or scenario.run_strategies())
    rows = run_matrix(scenario, variants, strategies, seed, args.days, progress=sys.stderr)
    title = scenario.title or scenario.name
    out = sys.stdout
    out.write(f"{title}: {args.days} day(s) per row, seed {seed}, {scenario.hours:g} h/day\n")
    out.write(format_table(rows) + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = args.out / "simulation.csv", args.out / "simulation.png"
    write_csv(csv_path, rows)
    for warning in write_chart(png_path, rows, title):
        sys.stderr.write(f"warning: {warning}\n")
    out.write(f"wrote {csv_path} and {png_path}\n")
    return 0


def _variants(scenario: Scenario, wanted: list[str] | None, source: str) -> list[str]:
    names = list(scenario.variants)
    unknown = [v for v in wanted or [] if v not in scenario.variants]
    if unknown:
        raise ConfigError(
            [f"{source}:1: variants: no variant {v!r} (known: {', '.join(names)})" for v in unknown]
        )
    return list(dict.fromkeys(wanted)) if wanted else names


def rng_factory(seed: int, day: int) -> RngFactory:
    """Independent named streams for one day; the same for every variant and strategy."""

    def make(name: str) -> RandomLike:
        return random.Random(f"{seed}:{day}:{name}")

    return make


def run_matrix(
    scenario: Scenario,
    variants: list[str],
    strategies: list[str | None],
    seed: int,
    days: int,
    progress: Any = None,
) -> list[ResultRow]:
    """Every variant under every strategy, ``days`` days each, in table order."""
    rows: list[ResultRow] = []
    total = len(variants) * len(strategies)
    for v_index, name in enumerate(variants):
        variant = scenario.variant(name)
        predictions = predict(variant)
        c, a = predictions if predictions is not None else (None, None)
        for s_index, strategy in enumerate(strategies):
            started = time.monotonic()
            tally: Tally | None = None
            for day in range(days):
                run = simulate(variant, strategy, rng_factory(seed, day))
                tally = tally or Tally(variant=name, strategy=run.strategy)
                tally.add(run)
            assert tally is not None
            rows.append(ResultRow(tally, c, a, threshold=variant.service_level_seconds))
            if progress is not None:
                cell = v_index * len(strategies) + s_index + 1
                elapsed = time.monotonic() - started
                progress.write(
                    f"[{cell}/{total}] {name} / {tally.strategy}: {days} day(s), "
                    f"{tally.offered} calls, {elapsed:.1f} s\n"
                )
                progress.flush()
    return rows


def run(argv: list[str] | None = None) -> int:
    """Stand-alone entry (tests, ``python -m cti_server.simulate_cli``)."""
    parser = argparse.ArgumentParser(
        prog="cti-server simulate",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return simulate_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
