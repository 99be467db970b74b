"""Server-side SVG charts for the campaign dashboard: pure functions of their data, no database, no JavaScript.

- `bar_chart`: grouped bars per day (per week or month when there are too
  many days to read), with a legend, y gridlines and date labels.
- `line_chart`: lines over days (a value of None leaves a gap), with an
  optional vertical marker (today).
- `funnel_chart`: horizontal bars, each with its count and its percentage of
  the first step.

Every chart is an inline <svg role="img"> with an aria-label, an id, and
data attributes carrying the numbers drawn (so a test or a browser can read
them back). All text is escaped. Colours are CSS values, e.g.
"var(--secondary, #417690)", so the admin's light and dark themes apply.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 44
MAX_BARS = 62  # more buckets than this and bars become hairlines: aggregate
MAX_SLOT = 64  # a lone day's bars stay bar-sized
TEXT = "fill:var(--body-quiet-color, #666)"
GRID = "stroke:var(--hairline-color, #e8e8e8)"
AXIS = "stroke:var(--border-color, #ccc)"


@dataclass(frozen=True)
class Series:
    key: str  # identifies it in classes and data attributes: "sent"
    label: str
    values: Sequence[int | float | None]
    color: str  # a CSS colour


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    count: int
    color: str


@dataclass(frozen=True)
class Buckets:
    unit: str  # "day", "week" (starting Monday) or "month"
    starts: list[dt.date]
    values: dict[str, list[int]]


def bucket(days: Sequence[dt.date], series: Sequence[Series], *, max_bars: int = MAX_BARS) -> Buckets:
    """Sum each series per day, or per week, or per month: the finest unit that gives at most `max_bars`."""
    keys = {
        "day": lambda d: d,
        "week": lambda d: d - dt.timedelta(days=d.weekday()),
        "month": lambda d: d.replace(day=1),
    }
    for unit, key in keys.items():
        starts = sorted({key(d) for d in days})
        if len(starts) <= max_bars or unit == "month":
            break
    index = {start: i for i, start in enumerate(starts)}
    values = {s.key: [0] * len(starts) for s in series}
    for s in series:
        for day, value in zip(days, s.values, strict=True):
            values[s.key][index[key(day)]] += value or 0
    return Buckets(unit, starts, values)


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to at least `top`."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1) if top >= 1 else step
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def compact(value: float) -> str:
    """12, 1.5k, 12k, 1.2M: short enough for an axis label."""
    value = float(value)
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def grouped(value: int) -> str:
    return f"{value:,}"


def date_label(day: dt.date, unit: str, *, with_year: bool) -> str:
    if unit == "month":
        return day.strftime("%b %Y")
    text = f"{day:%b} {day.day}"
    return f"{text} {day.year}" if with_year else text


def _attrs(**attrs) -> str:
    """Escaped attributes; a trailing underscore is dropped and other underscores become dashes."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(f'{name}="{escape(value)}"')
    return " ".join(parts)


def _svg(chart_id: str, kind: str, label: str, body: list[str], *, height: int = HEIGHT, **data) -> SafeString:
    attrs = _attrs(
        id=chart_id,
        class_=f"dash-chart dash-chart-{kind}",
        role="img",
        aria_label=label,
        viewBox=f"0 0 {WIDTH} {height}",
        width="100%",
        preserveAspectRatio="xMidYMid meet",
        xmlns="http://www.w3.org/2000/svg",
        data_chart=kind,
        **{f"data_{name}": value for name, value in data.items()},
    )
    return mark_safe(f"<svg {attrs}><title>{escape(label)}</title>{''.join(body)}</svg>")  # noqa: S308 (escaped)


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, style: str = TEXT, **attrs) -> str:
    extra = _attrs(**attrs)
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" style="{escape(style)}"'
        f"{' ' + extra if extra else ''}>{escape(text)}</text>"
    )


def _legend(items: Sequence[tuple[str, str, str]], *, shape: str = "box") -> list[str]:
    """A row of (key, label, colour) at the top left."""
    out, x = [], LEFT
    for key, label, color in items:
        if shape == "line":
            out.append(f'<line x1="{x}" y1="14" x2="{x + 14}" y2="14" style="stroke:{escape(color)};stroke-width:3"/>')
        else:
            out.append(f'<rect x="{x}" y="8" width="12" height="12" rx="2" style="fill:{escape(color)}"/>')
        out.append(_text(x + 18, 18, label, class_="legend", data_series=key))
        x += 18 + 7 * len(label) + 22
    return out


def _y_axis(top_value: float, *, label: str) -> tuple[list[str], float]:
    """Gridlines with labels; returns them and the value at the top of the plot."""
    ticks = nice_ticks(top_value)
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    out = []
    for tick in ticks:
        y = HEIGHT - BOTTOM - plot_h * tick / top
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" style="{GRID}"/>')
        out.append(_text(LEFT - 6, y + 4, compact(tick), anchor="end"))
    out.append(_text(12, TOP + plot_h / 2, label, anchor="middle", transform=f"rotate(-90 12 {TOP + plot_h / 2})"))
    return out, top


def _x_labels(starts: Sequence[dt.date], xs: Sequence[float], unit: str, *, title: str) -> list[str]:
    """At most ~10 date labels, evenly spread; the year on the first one and wherever it changes."""
    every = max(1, math.ceil(len(starts) / 10))
    out, last_year = [], None
    for i in range(0, len(starts), every):
        day = starts[i]
        text = date_label(day, unit, with_year=day.year != last_year)
        out.append(_text(xs[i], HEIGHT - BOTTOM + 15, text, anchor="middle"))
        last_year = day.year
    out.append(_text(LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 6, title, anchor="middle"))
    return out


def _empty(chart_id: str, kind: str, label: str, message: str) -> SafeString:
    body = [
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
        f'style="fill:none;{AXIS};stroke-dasharray:4 4"/>',
        _text(WIDTH / 2, HEIGHT / 2, message, anchor="middle", size=14, class_="empty"),
    ]
    return _svg(chart_id, kind, f"{label}: {message}", body, empty="true")


UNIT_TITLES = {"day": _("Day"), "week": _("Week (starting Monday)"), "month": _("Month")}


def bar_chart(
    *,
    chart_id: str,
    label: str,
    days: Sequence[dt.date],
    series: Sequence[Series],
    y_label: str = _("Recipients"),
    empty: str = _("No activity yet"),
    max_bars: int = MAX_BARS,
) -> SafeString:
    """Grouped bars, one group per day (or week, or month), one bar per series, each with a tooltip."""
    buckets = bucket(days, series, max_bars=max_bars)
    if not buckets.starts or not any(any(v) for v in buckets.values.values()):
        return _empty(chart_id, "bars", label, empty)
    n = len(buckets.starts)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = min(plot_w / n, MAX_SLOT)
    x0 = LEFT + (plot_w - slot * n) / 2
    group = slot * 0.8
    bar_w = group / len(series)
    body, top = _y_axis(max(max(v) for v in buckets.values.values()), label=y_label)
    xs = []
    for i, start in enumerate(buckets.starts):
        gx = x0 + i * slot + (slot - group) / 2
        xs.append(gx + group / 2)
        for j, s in enumerate(series):
            value = buckets.values[s.key][i]
            h = plot_h * value / top
            tip = f"{date_label(start, buckets.unit, with_year=True)}: {s.label} {grouped(value)}"
            attrs = _attrs(
                class_=f"bar bar-{s.key}", data_series=s.key, data_bucket=start.isoformat(), data_value=value
            )
            body.append(
                f'<rect {attrs} x="{gx + j * bar_w:.2f}" y="{HEIGHT - BOTTOM - h:.2f}" '
                f'width="{max(bar_w - 0.5, 0.5):.2f}" height="{h:.2f}" style="fill:{escape(s.color)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    body.append(
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" style="{AXIS}"/>'
    )
    body += _x_labels(buckets.starts, xs, buckets.unit, title=UNIT_TITLES[buckets.unit])
    body += _legend([(s.key, s.label, s.color) for s in series])
    totals = {f"total_{s.key}": sum(buckets.values[s.key]) for s in series}
    return _svg(chart_id, "bars", label, body, unit=buckets.unit, buckets=n, **totals)


def line_chart(
    *,
    chart_id: str,
    label: str,
    days: Sequence[dt.date],
    series: Sequence[Series],
    y_label: str = _("Recipients"),
    marker: tuple[dt.date, str] | None = None,
    empty: str = _("Nothing planned yet"),
) -> SafeString:
    """One line per series over the days; None values leave a gap. `marker` draws a labelled vertical line."""
    values = [v for s in series for v in s.values if v is not None]
    if not days or not values:
        return _empty(chart_id, "lines", label, empty)
    n = len(days)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    xs = [LEFT + plot_w / 2] if n == 1 else [LEFT + plot_w * i / (n - 1) for i in range(n)]
    body, top = _y_axis(max(values), label=y_label)

    def y(value: float) -> float:
        return HEIGHT - BOTTOM - plot_h * value / top

    if marker is not None and days[0] <= marker[0] <= days[-1]:
        mx = xs[days.index(marker[0])] if marker[0] in days else xs[0]
        body.append(
            f'<line class="marker" x1="{mx:.1f}" y1="{TOP}" x2="{mx:.1f}" y2="{HEIGHT - BOTTOM}" '
            f'style="{AXIS};stroke-dasharray:3 3"/>'
        )
        near_right = mx > WIDTH - RIGHT - 60
        body.append(
            _text(
                mx - 3 if near_right else mx + 3,
                TOP + 10,
                marker[1],
                anchor="end" if near_right else "start",
                class_="marker-label",
            )
        )
    data = {}
    for s in series:
        segments, current = [], []
        for x, value in zip(xs, s.values, strict=True):
            if value is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append((x, value))
        if current:
            segments.append(current)
        for segment in segments:
            points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in segment)
            if len(segment) == 1:
                x, v = segment[0]
                body.append(
                    f'<circle class="dot dot-{escape(s.key)}" cx="{x:.1f}" cy="{y(v):.1f}" r="3" '
                    f'style="fill:{escape(s.color)}"/>'
                )
            body.append(
                f'<polyline {_attrs(class_=f"line line-{s.key}", data_series=s.key)} points="{points}" '
                f'style="fill:none;stroke:{escape(s.color)};stroke-width:2.5;stroke-linejoin:round"/>'
            )
        known = [v for v in s.values if v is not None]
        data[f"last_{s.key}"] = known[-1] if known else ""
    body.append(
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" style="{AXIS}"/>'
    )
    body += _x_labels(list(days), xs, "day", title=_("Day"))
    body += _legend([(s.key, s.label, s.color) for s in series], shape="line")
    span = {"days": n, "first_day": days[0].isoformat(), "last_day": days[-1].isoformat()}
    return _svg(chart_id, "lines", label, body, **span, **data)


def funnel_chart(*, chart_id: str, label: str, steps: Sequence[Step]) -> SafeString:
    """Horizontal bars, widths relative to the first step, each labelled with its count and percentage of it."""
    row, label_w, top = 40, 120, 8
    height = top + row * max(len(steps), 1) + 8
    base = steps[0].count if steps else 0
    plot_w = WIDTH - LEFT - label_w - RIGHT - 110
    body = []
    for i, step in enumerate(steps):
        y = top + i * row
        share = step.count / base if base else 0.0
        percent = round(100 * share, 1)
        w = plot_w * share
        x, mid = LEFT + label_w, y + row / 2 + 4
        attrs = _attrs(class_=f"step step-{step.key}", data_step=step.key, data_value=step.count, data_percent=percent)
        body += [
            f"<g {attrs}>",
            _text(x - 8, mid, step.label, anchor="end", size=12, style="fill:var(--body-fg, #333)"),
            f'<rect x="{x}" y="{y + 6}" width="{plot_w:.1f}" height="{row - 12}" rx="3" '
            f'style="fill:var(--darkened-bg, #f8f8f8)"/>',
            f'<rect class="bar" x="{x}" y="{y + 6}" width="{w:.1f}" height="{row - 12}" rx="3" '
            f'style="fill:{escape(step.color)}"><title>{escape(step.label)}: {grouped(step.count)}</title></rect>',
            _text(x + w + 8, mid, f"{grouped(step.count)} ({percent:g}%)", size=12, class_="value"),
            "</g>",
        ]
    if not base:
        body.append(_text(WIDTH - RIGHT, top + 14, _("No recipients yet"), anchor="end", size=12, class_="empty"))
    return _svg(chart_id, "funnel", label, body, height=height, steps=len(steps), empty="true" if not base else None)
