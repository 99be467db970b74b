"""The plan's arithmetic: fair split of the limit, continuation inside sending hours, estimates."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from campaigns.planning import (
    Demand,
    clamp_to_send_window,
    continuation_at,
    daily_share,
    estimated_send_day,
    retry_delay,
    split_quota,
)

NINE, EIGHT_PM = dt.time(9), dt.time(20)
UTC = dt.UTC


def test_equal_priorities_get_equal_shares():
    assert split_quota(250, [Demand(1, 1, 5000), Demand(2, 1, 3000)]) == {1: 125, 2: 125}


def test_priority_weights_the_split():
    assert split_quota(300, [Demand(1, 2, 5000), Demand(2, 1, 5000)]) == {1: 200, 2: 100}


def test_a_share_a_campaign_cannot_use_goes_to_the_others():
    assert split_quota(250, [Demand(1, 1, 5000), Demand(2, 1, 30)]) == {1: 220, 2: 30}


def test_a_lone_campaign_gets_everything_it_can_use():
    assert split_quota(250, [Demand(1, 1, 5000)]) == {1: 250}
    assert split_quota(250, [Demand(1, 1, 10)]) == {1: 10}


def test_leftover_units_are_shared_deterministically():
    assert split_quota(1, [Demand(2, 1, 5), Demand(1, 1, 5)]) == {1: 1, 2: 0}
    assert split_quota(5, [Demand(1, 1, 9), Demand(2, 1, 9), Demand(3, 1, 9)]) == {1: 2, 2: 2, 3: 1}


demands = st.lists(
    st.builds(Demand, st.integers(1, 10**6), st.integers(1, 10), st.integers(0, 2000)),
    max_size=8,
    unique_by=lambda d: d.campaign_id,
)


@given(left=st.integers(0, 5000), demands=demands)
def test_split_never_exceeds_what_is_left_nor_any_capacity_and_wastes_nothing(left, demands):
    shares = split_quota(left, demands)
    assert sum(shares.values()) <= left
    for demand in demands:
        assert 0 <= shares[demand.campaign_id] <= demand.capacity
    assert sum(shares.values()) == min(left, sum(d.capacity for d in demands))
    assert split_quota(left, list(reversed(demands))) == shares  # order of input does not matter


@given(left=st.integers(0, 5000), demands=demands)
def test_split_is_proportional_while_nobody_is_capped(left, demands):
    shares = split_quota(left, demands)
    uncapped = [d for d in demands if shares[d.campaign_id] < d.capacity]
    total_weight = sum(d.priority for d in demands) or 1
    for demand in uncapped:
        # a campaign that wanted more got at least its proportional share, rounded down
        assert shares[demand.campaign_id] >= left * demand.priority // total_weight - 1


def test_clamp_moves_early_and_late_moments_into_the_sending_hours():
    day = dt.date(2026, 3, 2)
    at = lambda h, m=0: dt.datetime.combine(day, dt.time(h, m), tzinfo=UTC)  # noqa: E731
    assert clamp_to_send_window(at(7), start=NINE, end=EIGHT_PM, tz=UTC) == at(9)
    assert clamp_to_send_window(at(9, 4), start=NINE, end=EIGHT_PM, tz=UTC) == at(9, 4)
    assert clamp_to_send_window(at(21), start=NINE, end=EIGHT_PM, tz=UTC) == at(9) + dt.timedelta(days=1)


def test_clamp_uses_the_local_clock():
    paris = ZoneInfo("Europe/Paris")
    moment = dt.datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 08:30 in Paris
    assert clamp_to_send_window(moment, start=NINE, end=EIGHT_PM, tz=paris) == dt.datetime(
        2026, 3, 2, 9, 0, tzinfo=paris
    )


def test_continuation_when_yesterdays_sends_leave_the_window():
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    frees = dt.datetime(2026, 3, 2, 9, 4, tzinfo=UTC)
    assert continuation_at(now=now, frees_at=frees, retry_at=None, start=NINE, end=EIGHT_PM, tz=UTC) == frees


def test_continuation_after_the_sending_hours_is_left_to_the_schedule():
    now = dt.datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    frees = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    assert continuation_at(now=now, frees_at=frees, retry_at=None, start=NINE, end=EIGHT_PM, tz=UTC) is None


def test_continuation_takes_the_earliest_of_free_capacity_and_retries():
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    frees = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    retry = dt.datetime(2026, 3, 2, 9, 2, tzinfo=UTC)
    assert continuation_at(now=now, frees_at=frees, retry_at=retry, start=NINE, end=EIGHT_PM, tz=UTC) == retry
    assert continuation_at(now=now, frees_at=None, retry_at=None, start=NINE, end=EIGHT_PM, tz=UTC) is None


def test_daily_share_and_estimated_day():
    assert daily_share(limit=250, running_campaigns=2, daily_cap=None) == 125
    assert daily_share(limit=250, running_campaigns=2, daily_cap=50) == 50
    assert daily_share(limit=250, running_campaigns=1000, daily_cap=None) == 1
    start = dt.date(2026, 3, 2)
    assert estimated_send_day(base_day=start, ahead=0, share=125) == start
    assert estimated_send_day(base_day=start, ahead=124, share=125) == start
    assert estimated_send_day(base_day=start, ahead=125, share=125) == start + dt.timedelta(days=1)


def test_retry_delay_grows_exponentially_up_to_a_ceiling():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert retry_delay(30) == dt.timedelta(hours=6)
