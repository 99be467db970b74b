"""The dashboard's SVG charts (campaigns/charts.py): well-formed, escaped, readable from 1 day to 400 days."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from campaigns import charts
from campaigns.charts import Series, Step, bar_chart, bucket, compact, funnel_chart, line_chart, nice_ticks

NS = {"svg": "http://www.w3.org/2000/svg"}
DAY = dt.date(2026, 3, 2)  # a Monday


def days(n, start=DAY):
    return [start + dt.timedelta(days=i) for i in range(n)]


def parse(svg) -> ET.Element:
    """The chart is well-formed XML (escaping is right) and an accessible image."""
    root = ET.fromstring(str(svg))  # noqa: S314 (our own output, parsed to check it is well-formed)
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find("svg:title", NS) is not None
    return root


def bars(root, series=None):
    rects = root.findall(".//svg:rect[@data-series]", NS)
    return [r for r in rects if series is None or r.get("data-series") == series]


def sent_series(values, key="sent", label="Sent"):
    return [Series(key, label, values, "var(--secondary, #417690)")]


def test_an_empty_series_draws_a_frame_that_says_so():
    root = parse(bar_chart(chart_id="chart-daily", label="Per day", days=[], series=sent_series([])))
    assert root.get("id") == "chart-daily" and root.get("data-empty") == "true"
    assert "No activity yet" in ET.tostring(root, encoding="unicode")
    zeros = parse(bar_chart(chart_id="c", label="Per day", days=days(3), series=sent_series([0, 0, 0])))
    assert zeros.get("data-empty") == "true"


def test_one_day_draws_one_group_of_bar_sized_bars():
    series = sent_series([7]) + [Series("failed", "Failed", [2], "red")]
    root = parse(bar_chart(chart_id="c", label="Per day", days=[DAY], series=series))
    assert (root.get("data-unit"), root.get("data-buckets")) == ("day", "1")
    assert [(r.get("data-series"), r.get("data-bucket"), r.get("data-value")) for r in bars(root)] == [
        ("sent", "2026-03-02", "7"),
        ("failed", "2026-03-02", "2"),
    ]
    assert 10 < float(bars(root)[0].get("width")) <= charts.MAX_SLOT  # neither a hairline nor the whole width
    assert (root.get("data-total-sent"), root.get("data-total-failed")) == ("7", "2")


def test_up_to_62_days_stay_daily():
    root = parse(bar_chart(chart_id="c", label="x", days=days(62), series=sent_series([1] * 62)))
    assert (root.get("data-unit"), root.get("data-buckets")) == ("day", "62")


def test_400_days_become_weeks_that_keep_every_count():
    values = [i % 5 for i in range(400)]
    root = parse(bar_chart(chart_id="c", label="x", days=days(400), series=sent_series(values)))
    assert root.get("data-unit") == "week"
    assert int(root.get("data-buckets")) == len(bars(root)) == 58  # 400 days from a Monday: 57 weeks and 1 day
    assert root.get("data-total-sent") == str(sum(values))
    assert bars(root)[1].get("data-bucket") == "2026-03-09"  # weeks start on Monday
    assert "Week (starting Monday)" in ET.tostring(root, encoding="unicode")


def test_weeks_start_on_monday_even_when_the_first_day_does_not():
    result = bucket(days(70, start=DAY + dt.timedelta(days=3)), sent_series([1] * 70))
    assert result.unit == "week" and result.starts[0] == DAY and sum(result.values["sent"]) == 70


def test_years_of_days_become_months():
    result = bucket(days(800), sent_series([1] * 800))
    assert result.unit == "month" and result.starts[0] == dt.date(2026, 3, 1) and sum(result.values["sent"]) == 800


def test_text_is_escaped_everywhere():
    hostile = '<script>alert("x")</script> & "quotes"'
    svg = str(
        bar_chart(chart_id='c"><x', label=hostile, days=[DAY], series=[Series("s", hostile, [3], 'red"/><x a="')])
    )
    assert "<script>" not in svg and "<x" not in svg
    root = parse(svg)
    assert root.get("aria-label") == hostile and root.get("id") == 'c"><x'
    parse(line_chart(chart_id="l", label=hostile, days=[DAY], series=[Series("s", hostile, [1], "red")]))
    parse(funnel_chart(chart_id="f", label=hostile, steps=[Step("s", hostile, 3, "red")]))


def test_the_line_chart_leaves_a_gap_for_missing_values_and_marks_today():
    series = [
        Series("planned", "Planned", [1, 2, 3, 4], "grey"),
        Series("sent", "Sent", [1, 2, None, None], "blue"),
    ]
    root = parse(
        line_chart(chart_id="p", label="x", days=days(4), series=series, marker=(DAY + dt.timedelta(1), "today"))
    )
    lines = root.findall(".//svg:polyline", NS)
    assert [(p.get("data-series"), len(p.get("points").split())) for p in lines] == [("planned", 4), ("sent", 2)]
    assert (root.get("data-last-planned"), root.get("data-last-sent")) == ("4", "2")
    assert (root.get("data-first-day"), root.get("data-last-day"), root.get("data-days")) == (
        "2026-03-02",
        "2026-03-05",
        "4",
    )
    assert root.find(".//svg:line[@class='marker']", NS) is not None


def test_the_line_chart_draws_one_day_as_a_dot_and_no_days_as_empty():
    one = parse(line_chart(chart_id="p", label="x", days=[DAY], series=[Series("sent", "Sent", [5], "blue")]))
    assert one.find(".//svg:circle", NS) is not None
    empty = parse(line_chart(chart_id="p", label="x", days=[], series=[Series("sent", "Sent", [], "blue")]))
    assert empty.get("data-empty") == "true"


def test_a_marker_outside_the_days_is_not_drawn():
    root = parse(
        line_chart(
            chart_id="p", label="x", days=days(3), series=sent_series([1, 2, 3]), marker=(DAY - dt.timedelta(1), "t")
        )
    )
    assert root.find(".//svg:line[@class='marker']", NS) is None


def test_the_funnel_gives_each_step_its_count_and_share_of_the_first():
    steps = [
        Step("total", "Recipients", 1000, "grey"),
        Step("sent", "Sent", 800, "blue"),
        Step("read", "Read", 333, "g"),
    ]
    root = parse(funnel_chart(chart_id="chart-funnel", label="Funnel", steps=steps))
    groups = root.findall(".//svg:g[@data-step]", NS)
    assert [(g.get("data-step"), g.get("data-value"), g.get("data-percent")) for g in groups] == [
        ("total", "1000", "100.0"),
        ("sent", "800", "80.0"),
        ("read", "333", "33.3"),
    ]
    assert "1,000 (100%)" in ET.tostring(root, encoding="unicode")
    widths = [float(g.find("svg:rect[@class='bar']", NS).get("width")) for g in groups]
    assert widths[0] > widths[1] > widths[2] > 0


def test_a_funnel_without_recipients_says_so():
    root = parse(funnel_chart(chart_id="f", label="Funnel", steps=[Step("total", "Recipients", 0, "grey")]))
    assert root.get("data-empty") == "true"
    assert root.find(".//svg:g[@data-step='total']", NS).get("data-percent") == "0.0"


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(0, [0, 1]), (5, [0, 2, 4, 6]), (100, [0, 50, 100]), (37_000, [0, 10_000, 20_000, 30_000, 40_000])],
)
def test_axis_ticks_are_round_numbers_reaching_the_top(top, ticks):
    assert nice_ticks(top) == ticks


@pytest.mark.parametrize(("value", "text"), [(12, "12"), (1500, "1.5k"), (20_000, "20k"), (1_000_000, "1M")])
def test_axis_labels_are_short(value, text):
    assert compact(value) == text
