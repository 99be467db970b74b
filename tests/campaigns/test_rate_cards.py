"""import_rate_card: Meta's rate card CSV and calling-code table, history by effective date, bad files refused whole."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from campaigns.models import MarketCode, Rate, RateCard
from campaigns.ratecards import rate_book
from tests.campaigns.conftest import EXAMPLE_RATES

pytestmark = pytest.mark.django_db
CARD = EXAMPLE_RATES / "example_rate_card.csv"
MARKETS = EXAMPLE_RATES / "example_markets.csv"
HEADER = "Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service\n"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_example_card_imports_with_its_market_table(capsys):
    call_command("import_rate_card", str(CARD), "--markets", str(MARKETS), "--effective", "2026-01-01")
    assert "rates: " in capsys.readouterr().out
    card = RateCard.objects.get()
    assert (card.currency, card.effective_from) == ("USD", dt.date(2026, 1, 1))
    book = rate_book(day=dt.date(2026, 3, 1))
    assert book.market("+14155550100") == "North America"
    assert book.market("+351912345678") == "Rest of Western Europe"
    assert book.market("+81312345678") == "Other"  # not in the table: Meta's "Other"
    assert book.price_of("+5511987650001", "marketing") == Decimal("0.0600")
    assert book.price_of("+919812345678", "authentication_international") == Decimal("0.0280")
    assert book.price_of("+14155550100", "authentication_international") is None  # n/a in the card
    assert book.price_of("+14155550100", "marketing_lite") == Decimal("0.0250")  # priced as marketing


def test_a_later_card_applies_from_its_date_on_and_the_earlier_one_is_kept(tmp_path):
    call_command("import_rate_card", str(CARD), "--markets", str(MARKETS), "--effective", "2026-01-01")
    later = CARD.read_text().replace("North America,USD,0.0250", "North America,USD,0.0300")
    call_command("import_rate_card", write(tmp_path, "april.csv", later), "--effective", "2026-04-01")
    assert RateCard.objects.count() == 2
    assert rate_book(day=dt.date(2025, 12, 31)) is None
    assert rate_book(day=dt.date(2026, 3, 31)).price_of("+14155550100", "marketing") == Decimal("0.0250")
    assert rate_book(day=dt.date(2026, 4, 1)).price_of("+14155550100", "marketing") == Decimal("0.0300")
    # The later card kept the calling-code table of the earlier one.
    assert rate_book(day=dt.date(2026, 4, 1)).market("+5511987650001") == "Brazil"


@pytest.mark.parametrize(
    ("card", "markets", "message"),
    [
        (HEADER + "Brazil,USD,0.06,abc,0.03,n/a,0\n", None, "line 2: utility price 'abc' is not a price"),
        (HEADER + "Brazil,USD,0.06,0.01,0.03,n/a,0\nBrazil,USD,0.07,0.01,0.03,n/a,0\n", None,
         "line 3: market “Brazil” already on line 2"),
        (HEADER + "Brazil,EUR,0.06,0.01,0.03,n/a,0\n", None, "line 2: currency EUR, but this card is in USD"),
        (HEADER + "Brazil,USD,-1,0.01,0.03,n/a,0\n", None, "line 2: marketing price '-1' is not a price"),
        ("Country,Price\nBrazil,0.06\n", None, "no header row with a “market” column"),
        (HEADER + "Brazil,USD,0.06,0.01,0.03,n/a,0\n", "Calling code,Country,Market\n55,Brazil,Brasil\n",
         "line 2: market “Brasil” is not in the rate card"),
        (HEADER + "Brazil,USD,0.06,0.01,0.03,n/a,0\n", "Calling code,Country,Market\n5x5,Brazil,Brazil\n",
         "line 2: calling code '5x5' is not 1 to 8 digits"),
        (HEADER + "Brazil,USD,0.06,0.01,0.03,n/a,0\nOther,USD,0.06,0.01,0.03,n/a,0\n",
         "Calling code,Country,Market\n55,Brazil,Brazil\n55,Brazil,Other\n", "line 3: +55 is in “Other” here"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_its_line_and_nothing_is_imported(tmp_path, card, markets, message):
    args = [write(tmp_path, "card.csv", card), "--effective", "2026-01-01"]
    args += ["--markets", write(tmp_path, "markets.csv", markets or "Calling code,Country,Market\n55,Brazil,Brazil\n")]
    with pytest.raises(CommandError) as refused:
        call_command("import_rate_card", *args)
    assert message in str(refused.value)
    assert str(refused.value).startswith("nothing imported")
    assert (RateCard.objects.count(), Rate.objects.count(), MarketCode.objects.count()) == (0, 0, 0)


def test_the_first_card_needs_its_market_table_and_a_bad_date_is_refused(tmp_path):
    with pytest.raises(CommandError, match="needs its calling-code table"):
        call_command("import_rate_card", str(CARD), "--effective", "2026-01-01")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("import_rate_card", str(CARD), "--markets", str(MARKETS), "--effective", "March")
    with pytest.raises(CommandError, match="costs are in USD"):
        call_command("import_rate_card", str(CARD), "--markets", str(MARKETS), "--effective", "2026-01-01",
                     "--currency", "EUR")  # fmt: skip
    assert not RateCard.objects.exists()


def test_the_admin_shows_the_history_read_only(rate_card, admin_client):
    listing = admin_client.get(reverse("admin:campaigns_ratecard_changelist"))
    assert listing.status_code == 200 and "2026" in listing.content.decode()
    page = admin_client.get(reverse("admin:campaigns_ratecard_change", args=[rate_card.pk]))
    assert page.status_code == 200 and "Rest of Western Europe" in page.content.decode()
    assert admin_client.get(reverse("admin:campaigns_ratecard_add")).status_code == 403


def test_campaign_viewers_see_the_rate_cards(rate_card, viewer_client):
    page = viewer_client.get(reverse("admin:campaigns_ratecard_change", args=[rate_card.pk]))
    assert page.status_code == 200 and "North America" in page.content.decode()
