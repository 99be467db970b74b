"""Exports: the failures and all recipients as CSV, streamed from one query, formulas defused, each export logged."""

import datetime as dt
import zoneinfo

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from audiences.models import Contact
from campaigns.exports import PLAIN, TEXT, TIME, csv_lines, defuse, row_formatter
from campaigns.models import Recipient
from campaigns.services import campaign_recount
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory, RecipientFactory

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 3, 2, 9, 30, 5, tzinfo=dt.UTC)


@pytest.fixture
def campaign(settings):
    """Three recipients in send order: sent and read; failed (a name that is a formula); failed with a '-' reason."""
    settings.TIME_ZONE = "Europe/Lisbon"  # UTC+0 in March: the offset is printed as +00:00
    campaign = CampaignFactory()
    RecipientFactory(
        campaign=campaign,
        contact=ContactFactory(phone="+14155550101", name="Ann Lee"),
        position=0,
        estimated_send_date=dt.date(2026, 3, 2),
        status=Recipient.Status.READ,
        attempts=1,
        message_id="wamid.A",
        sent_at=T,
        delivered_at=T + dt.timedelta(minutes=1),
        read_at=T + dt.timedelta(minutes=2),
    )
    RecipientFactory(
        campaign=campaign,
        contact=ContactFactory(phone="+14155550102", name='=HYPERLINK("http://x.example","click")'),
        position=1,
        estimated_send_date=dt.date(2026, 3, 2),
        status=Recipient.Status.FAILED,
        attempts=3,
        failed_at=T + dt.timedelta(hours=1),
        error_code=131026,
        error_reason="Error 131026: Message undeliverable - the number is not on WhatsApp",
    )
    RecipientFactory(
        campaign=campaign,
        contact=ContactFactory(phone="+14155550103", name="Bob, Jr."),
        position=2,
        estimated_send_date=dt.date(2026, 3, 3),
        status=Recipient.Status.FAILED,
        attempts=1,
        failed_at=T + dt.timedelta(hours=2),
        error_code=130472,
        error_reason="-experiment",
    )
    campaign_recount(campaign=campaign)
    return campaign


def export(client, campaign, kind):
    return client.get(reverse(f"admin:campaigns_campaign_export_{kind}", args=[campaign.pk]))


def test_failures_export_lists_each_failed_recipient_with_name_error_and_last_attempt(admin_client, campaign):
    response = export(admin_client, campaign, "failures")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == (
        "\ufeffphone,name,error_code,reason,attempts,last_attempt_at\r\n"
        '+14155550102,"\'=HYPERLINK(""http://x.example"",""click"")",131026,'
        "Error 131026: Message undeliverable - the number is not on WhatsApp,3,2026-03-02 10:30:05+00:00\r\n"
        '+14155550103,"Bob, Jr.",130472,\'-experiment,1,2026-03-02 11:30:05+00:00\r\n'
    )


def test_recipients_export_lists_every_recipient_with_status_dates_and_errors(admin_client, campaign):
    content = b"".join(export(admin_client, campaign, "recipients").streaming_content).decode()
    assert content.split("\r\n") == [
        "\ufeffphone,name,status,position,estimated_send_date,attempts,message_id,sent_at,delivered_at,read_at,failed_at,"
        "error_code,reason,clicks,first_clicked_at,replied_at,reply_button,reply_text,converted_at",
        "+14155550101,Ann Lee,read,0,2026-03-02,1,wamid.A,2026-03-02 09:30:05+00:00,2026-03-02 09:31:05+00:00,"
        "2026-03-02 09:32:05+00:00,,,,0,,,,,",
        '+14155550102,"\'=HYPERLINK(""http://x.example"",""click"")",failed,1,2026-03-02,3,,,,,'
        "2026-03-02 10:30:05+00:00,131026,Error 131026: Message undeliverable - the number is not on WhatsApp,0,,,,,",
        '+14155550103,"Bob, Jr.",failed,2,2026-03-03,1,,,,,2026-03-02 11:30:05+00:00,130472,\'-experiment,0,,,,,',
        "",
    ]


def test_times_are_written_in_the_configured_time_zone(admin_client, campaign, settings):
    settings.TIME_ZONE = "America/New_York"
    content = b"".join(export(admin_client, campaign, "failures").streaming_content).decode()
    assert "2026-03-02 05:30:05-05:00" in content


def test_an_export_is_streamed_as_an_attachment_named_for_the_campaign_and_day(admin_client, campaign):
    response = export(admin_client, campaign, "recipients")
    assert isinstance(response, StreamingHttpResponse)
    day = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{campaign.pk}-recipients-{day}.csv"'


def test_rows_are_read_in_one_query_with_the_names_joined(admin_client, campaign, django_assert_num_queries):
    for n in range(20):
        RecipientFactory(campaign=campaign, position=10 + n)
    response = export(admin_client, campaign, "recipients")
    with django_assert_num_queries(1):
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 23


def test_each_export_is_recorded_in_the_campaign_history(admin_client, campaign):
    export(admin_client, campaign, "failures")
    export(admin_client, campaign, "recipients")
    day = timezone.localdate().isoformat()
    entries = LogEntry.objects.filter(object_id=str(campaign.pk)).order_by("pk")
    assert [(e.action_flag, e.get_change_message()) for e in entries] == [
        (CHANGE, f"Exported failures as CSV: 2 rows (campaign-{campaign.pk}-failures-{day}.csv)"),
        (CHANGE, f"Exported all recipients as CSV: 3 rows (campaign-{campaign.pk}-recipients-{day}.csv)"),
    ]


def test_an_unknown_campaign_is_not_found(admin_client):
    assert admin_client.get(reverse("admin:campaigns_campaign_export_failures", args=[999])).status_code == 404
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+14155550123", "+14155550123"),  # an E.164 phone is a plain number: kept as it is
        ("-5", "-5"),
        ("Ann = Bob", "Ann = Bob"),
    ],
)
def test_text_that_a_spreadsheet_would_run_as_a_formula_is_defused(text, cell):
    assert defuse(text) == cell


def test_a_row_is_formatted_by_column_kind():
    lisbon_summer = zoneinfo.ZoneInfo("Europe/Lisbon")
    format_row = row_formatter(kinds=[TEXT, TIME, TIME, PLAIN, PLAIN, TEXT], tz=lisbon_summer)
    # Times come as the database's text: PostgreSQL's with an offset, SQLite's naive (UTC).
    row = ("=A1", "2026-07-01 08:00:00.00099+00", "2026-07-01 08:00:00", 131026, dt.date(2026, 7, 1), "")
    assert format_row(row) == ["'=A1", "2026-07-01 09:00:00+01:00", "2026-07-01 09:00:00+01:00", 131026,
                               dt.date(2026, 7, 1), ""]  # fmt: skip
    row = ("", None, "2026-07-01 10:00:00+02", None, None, None)
    assert format_row(row)[1:3] == [None, "2026-07-01 09:00:00+01:00"]
    assert list(csv_lines(header=["a"], rows=[format_row(("=A1", None, None, 131026, dt.date(2026, 7, 1), ""))])) == [
        "a\r\n",
        "'=A1,,,131026,2026-07-01,\r\n",
    ]


def test_lines_are_yielded_a_chunk_of_rows_at_a_time():
    chunks = list(csv_lines(header=["a"], rows=[(1,), (2,), (3,)], chunk=2))
    assert chunks == ["a\r\n", "1\r\n2\r\n", "3\r\n"]


# --- Excel: a BOM and the separator it expects -----------------------------------


def test_an_export_starts_with_a_utf8_bom_so_excel_keeps_accents(admin_client, campaign):
    Contact.objects.filter(phone="+14155550101").update(name="Zoé Løkke")
    raw = b"".join(export(admin_client, campaign, "recipients").streaming_content)
    assert raw.startswith(b"\xef\xbb\xbfphone,")
    assert "Zoé Løkke".encode() in raw


@pytest.mark.parametrize(
    ("language", "separator"),
    [("fr-FR,fr;q=0.9", ";"), ("de", ";"), ("pt-BR", ";"), ("es", ";"), ("en-US,en;q=0.9", ","), ("", ",")],
)
def test_the_default_separator_is_the_one_excel_uses_for_the_browsers_language(
    admin_client, campaign, language, separator
):
    response = admin_client.get(
        reverse("admin:campaigns_campaign_export_failures", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE=language
    )
    header = b"".join(response.streaming_content).decode().splitlines()[0]
    assert header == "\ufeff" + separator.join(["phone", "name", "error_code", "reason", "attempts", "last_attempt_at"])


@pytest.mark.parametrize(("sep", "line"), [("semicolon", "+14155550103;Bob, Jr.;130472"), ("comma", '"Bob, Jr."')])
def test_sep_chooses_the_separator_and_quotes_what_contains_it(admin_client, campaign, sep, line):
    response = admin_client.get(
        reverse("admin:campaigns_campaign_export_failures", args=[campaign.pk]), {"sep": sep}, HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert line in b"".join(response.streaming_content).decode()


def test_a_tab_separated_export_is_named_and_typed_as_such(admin_client, campaign):
    response = admin_client.get(
        reverse("admin:campaigns_campaign_export_recipients", args=[campaign.pk]), {"sep": "tab"}
    )
    assert response["Content-Type"] == "text/tab-separated-values; charset=utf-8"
    assert response["Content-Disposition"].endswith('.tsv"')
    assert b"".join(response.streaming_content).decode().splitlines()[1].startswith("+14155550101\tAnn Lee\tread\t")


def test_an_unknown_separator_is_refused(admin_client, campaign):
    url = reverse("admin:campaigns_campaign_export_recipients", args=[campaign.pk])
    assert admin_client.get(url, {"sep": "pipe"}).status_code == 400


def test_the_export_stays_streamed_with_its_bom(admin_client, campaign):
    response = export(admin_client, campaign, "recipients")
    assert isinstance(response, StreamingHttpResponse)
    first = next(iter(response.streaming_content))
    assert first == "\ufeff".encode()


def test_the_export_options_page_preselects_the_languages_separator_and_leads_to_the_file(admin_client, campaign):
    url = reverse("admin:campaigns_campaign_export", args=[campaign.pk])
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'value="semicolon" checked' in page and 'value="recipients" checked' in page
    response = admin_client.get(url, {"export": "failures", "sep": "tab"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_campaign_export_failures", args=[campaign.pk]) + "?sep=tab"
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert url in change


def test_viewers_get_no_export_options(viewer_client, campaign):
    assert viewer_client.get(reverse("admin:campaigns_campaign_export", args=[campaign.pk])).status_code == 403
