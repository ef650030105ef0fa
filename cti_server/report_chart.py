"""The report's chart, as the proposal draws its statistics: bars of requests and answered calls
per period with the answer rate as a line, and average talk and wait times.

Labels are Korean and English with a CJK font (Noto Sans CJK, found by
:func:`cti_server.sim_report.cjk_font`); without one they are English only and the returned
warnings say so, rather than drawing empty boxes for Hangul.
"""

from __future__ import annotations

import io

from cti_server.sim_report import cjk_font
from metrics.reports import KEY_LABELS
from metrics.stats import StatsTable

NO_FONT = "no CJK font found (install fonts-noto-cjk): chart labels are in English only"


def chart_png(table: StatsTable) -> tuple[bytes, list[str]]:
    """The chart as PNG bytes, and warnings (a missing CJK font)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    font = cjk_font()
    warnings = [] if font else [NO_FONT]

    def label(korean: str, english: str) -> str:
        return english if font is None else f"{korean} {english}"

    rows = table.rows
    keys = [r.key for r in rows]
    x = list(range(len(keys)))
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    key_korean, key_english = KEY_LABELS[table.by]
    width = 0.38
    with plt.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, 0.45 * len(keys) + 3), 8.2))
        top.bar(
            [i - width / 2 for i in x],
            [r.requests for r in rows],
            width,
            label=label("요청", "Requests"),
            color="#9db7d5",
        )
        top.bar(
            [i + width / 2 for i in x],
            [r.answered for r in rows],
            width,
            label=label("응답", "Answered"),
            color="#2f6db5",
        )
        top.set_ylabel(label("통화 수", "calls"))
        top.yaxis.set_major_locator(MaxNLocator(integer=True))
        rate_axis = top.twinx()
        rates = [None if r.answer_rate is None else 100 * r.answer_rate for r in rows]
        rate_axis.plot(
            x,
            [float("nan") if v is None else v for v in rates],
            "o-",
            color="#d9534f",
            label=label("응답률 %", "Answer rate %"),
        )
        rate_axis.set_ylim(0, 105)
        rate_axis.set_ylabel("%")
        handles = top.get_legend_handles_labels()
        extra = rate_axis.get_legend_handles_labels()
        top.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", fontsize=8)
        top.set_title(label("요청과 응답", "Requests and answered calls"))
        bottom.bar(
            [i - width / 2 for i in x],
            [r.talk_avg or 0.0 for r in rows],
            width,
            label=label("평균 통화", "Avg talk"),
            color="#5cb85c",
        )
        bottom.bar(
            [i + width / 2 for i in x],
            [r.wait_avg or 0.0 for r in rows],
            width,
            label=label("평균 대기", "Avg wait"),
            color="#f0ad4e",
        )
        bottom.set_ylabel(label("초", "seconds"))
        bottom.set_title(label("평균 통화 시간과 대기 시간", "Average talk and wait time"))
        bottom.legend(loc="upper left", fontsize=8)
        for axis in (top, bottom):
            axis.set_xticks(x, keys, rotation=45 if len(keys) > 12 else 0, fontsize=8)
            axis.set_xlabel(label(key_korean, key_english))
        start, end = table.start.date().isoformat(), table.end.date().isoformat()
        fig.suptitle(f"{label('통화 통계', 'Call statistics')} {start} ≤ t < {end} ({table.tz})")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=100)
        plt.close(fig)
    return out.getvalue(), warnings
