"""The simulation's outputs: the printed table, ``simulation.csv`` and ``simulation.png``.

The chart labels are Korean and English when a CJK font (Noto Sans CJK, from Debian's
``fonts-noto-cjk``) is installed; without one they are English only, and ``write_chart``
returns a warning saying so, rather than drawing empty boxes for Hangul.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acd.sim_figures import Prediction, Tally

CJK_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "Noto Sans CJK JP", "NanumGothic", "UnDotum")


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One (variant, strategy) cell of the comparison, summed over the simulated days."""

    tally: Tally
    erlang_c: Prediction | None
    erlang_a: Prediction | None
    threshold: float = 20.0  # the service-level threshold, seconds

    @property
    def variant(self) -> str:
        return self.tally.variant

    @property
    def strategy(self) -> str:
        return self.tally.strategy


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def _sec(x: float) -> str:
    return "  inf" if math.isinf(x) else f"{x:5.1f}"


HEADER = (
    f"{'variant':<12} {'strategy':<14} {'offered':>7} {'ans%':>5} {'srv%':>5} {'SL%':>5} "
    f"{'ASA':>5} {'abn%':>5} {'occ%':>5} {'AHT':>5} {'Gini':>5} {'c/agt':>5} {'cb req/done':>11}"
    f" | {'C SL%':>5} {'C ASA':>5} | {'A ans%':>6} {'A SL%':>5} {'A ASA':>5}"
)


def format_table(rows: list[ResultRow]) -> str:
    """The comparison as fixed-width text (offered, callbacks and calls per agent per day)."""
    lines = [HEADER, "-" * len(HEADER)]
    for row in rows:
        t, c, a = row.tally, row.erlang_c, row.erlang_a
        days = max(t.days, 1)
        callbacks = f"{t.callbacks_requested / days:.0f}/{t.callbacks_handled / days:.0f}"
        erlang_c = "    -     -" if c is None else f"{_pct(c.service_level)} {_sec(c.asa)}"
        erlang_a = "     -     -     -"
        if a is not None:
            erlang_a = f"{_pct(a.answer_rate):>6} {_pct(a.service_level)} {_sec(a.asa)}"
        lines.append(
            f"{t.variant[:12]:<12} {t.strategy[:14]:<14} {t.offered / days:7.0f} "
            f"{_pct(t.answer_rate)} {_pct(t.served_rate)} {_pct(t.sl_offered)} {_sec(t.asa)} "
            f"{_pct(t.abandon_rate)} {_pct(t.occupancy)} {_sec(t.aht)} {t.gini:5.3f} "
            f"{t.calls_per_agent:5.0f} {callbacks:>11} | {erlang_c} | {erlang_a}"
        )
    return "\n".join(lines)


def csv_fields(row: ResultRow) -> dict[str, Any]:
    t = row.tally
    out: dict[str, Any] = {
        "variant": t.variant,
        "strategy": t.strategy,
        "days": t.days,
        "offered": t.offered,
        "answered": t.answered,
        "answered_within_sl": t.answered_in_sl,
        "abandoned": t.abandoned,
        "short_abandoned": t.short_abandoned,
        "callbacks_requested": t.callbacks_requested,
        "callbacks_handled": t.callbacks_handled,
        "callbacks_pending": t.callbacks_pending,
        "voicemail": t.voicemail,
        "unresolved": t.unresolved,
    }
    for name in (
        "answer_rate",
        "served_rate",
        "abandon_rate",
        "abandon_rate_excl_short",
        "sl_offered",
        "sl_excl_short",
        "sl_answered",
        "asa",
        "aht",
        "occupancy",
        "gini",
        "gini_work",
        "calls_per_agent",
    ):
        out[name] = round(float(getattr(t, name)), 4)
    for prefix, p in (("erlang_c", row.erlang_c), ("erlang_a", row.erlang_a)):
        for name in ("answer_rate", "service_level", "asa", "abandon_rate", "occupancy"):
            value = None if p is None else getattr(p, name)
            out[f"{prefix}_{name}"] = "" if value is None else round(value, 4)
        out[f"{prefix}_stable"] = "" if p is None else p.stable
    a = row.erlang_a
    out["erlang_agents"] = "" if a is None else round(a.agents, 2)
    out["erlang_load"] = "" if a is None else round(a.load, 2)
    return out


def write_csv(path: Path, rows: list[ResultRow]) -> None:
    records = [csv_fields(r) for r in rows]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]) if records else ["variant"])
        writer.writeheader()
        writer.writerows(records)


def cjk_font() -> str | None:
    """The name of an installed CJK font matplotlib can use, if any."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:  # installed after matplotlib cached its font list: add it by path
        for path in sorted(Path("/usr/share/fonts").rglob("NotoSansCJK-Regular.tt*")):
            font_manager.fontManager.addfont(str(path))
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


def _without_cjk(text: str) -> str:
    """``text`` without Hangul and CJK characters; " / "-separated parts left empty go."""
    parts = [
        " ".join("".join(ch for ch in p if ord(ch) < 0x1100).split()) for p in text.split(" / ")
    ]
    return " / ".join(p for p in parts if p) or "simulation"


def write_chart(path: Path, rows: list[ResultRow], title: str) -> list[str]:
    """Bars of answer rate and SL per variant (first strategy), Gini per strategy; returns
    warnings (a missing CJK font)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    warnings: list[str] = []
    font = cjk_font()
    if font is None:
        warnings.append(
            "no CJK font found (install fonts-noto-cjk): chart labels are in English only"
        )

    def label(korean: str, english: str) -> str:
        return english if font is None else f"{korean} ({english})"

    if font is None:
        title = _without_cjk(title)

    variants = list(dict.fromkeys(r.variant for r in rows))
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    first = {r.variant: r for r in reversed(rows) if r.strategy == strategies[0]}
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with plt.rc_context({"font.family": families}):
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
        x = list(range(len(variants)))
        width = 0.27
        seconds = f"{rows[0].threshold:g}"
        series = (
            (label("응답률", "answer rate"), [first[v].tally.answer_rate for v in variants]),
            (
                label("콜백 포함 처리율", "served incl. callbacks"),
                [first[v].tally.served_rate for v in variants],
            ),
            (
                label(f"서비스 레벨 {seconds}초", f"service level {seconds} s"),
                [first[v].tally.sl_offered for v in variants],
            ),
        )
        for k, (name, values) in enumerate(series):
            at = [i + (k - 1) * width for i in x]
            bars = left.bar(at, [100 * v for v in values], width, label=name)
            left.bar_label(bars, fmt="%.0f", fontsize=7)
        predicted = [first[v].erlang_a for v in variants]
        if all(p is not None for p in predicted):
            left.plot(
                [i - width for i in x],
                [100 * p.answer_rate for p in predicted if p is not None],
                "k_",
                markersize=16,
                markeredgewidth=2.5,
                label=label("Erlang A 예측 응답률", "Erlang A answer rate"),
            )
        left.set_xticks(x, variants, rotation=15)
        left.set_ylim(0, 119)
        left.set_ylabel("%")
        left.set_title(label("변형별 응답률과 서비스 레벨", f"by variant ({strategies[0]})"))
        left.legend(fontsize=7, loc="upper left", ncol=2)
        step = 0.8 / max(len(strategies), 1)
        for k, strategy in enumerate(strategies):
            cells = {r.variant: r for r in rows if r.strategy == strategy}
            ginis = [cells[v].tally.gini if v in cells else 0.0 for v in variants]
            offset = -0.4 + step * (k + 0.5)
            right.bar([i + offset for i in x], ginis, step, label=strategy)
        right.set_xticks(x, variants, rotation=15)
        right.set_ylabel("Gini")
        right.set_title(
            label("전략별 공정성 (처리 건수 지니 계수)", "fairness: Gini of calls/agent")
        )
        right.legend(fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return warnings
