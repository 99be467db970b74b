"""CSV import (Promise 7): bad rows reported with line numbers, good rows imported, duplicates merged.

The file-level decisions (encoding, delimiter, binary, .xlsx) and the bad shapes of CSV are in
test_import_files.py; the background job in the admin in test_import_admin.py.
"""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audiences.imports import ImportFileError
from audiences.models import Contact
from audiences.services import contacts_import
from tests.factories.audiences import ContactFactory, TagFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

MESSY = (
    "Mobile,Full Name,Tier,Total Spent,City,tags,zip\n"  # line 1
    '+1 415 555 0101,Ann Lee,gold,250,Paris,"vip, new",00712\n'  # 2
    "4155550102,Bob Stone,silver,99.5,Lyon,,\n"  # 3
    ",No Phone,gold,1,Nice,,\n"  # 4: empty phone
    "14155550101,Ann B. Lee,platinum,,,loyal,\n"  # 5: duplicate of line 2 (no "+")
    "\n"  # 6: blank, skipped
    "12ab,Bad Number,gold,5,Rome,,\n"  # 7: invalid phone
    "+1 415 555 0103,Caf\xe9,bronze,n/a,Lille,,\n"  # 8: a Latin-1 byte: the whole file is read as Windows-1252
    "0044 7911 123456,Kim,gold,1e3,London,vip,\n"  # 9
).encode()
MESSY = MESSY.replace("Caf\xe9".encode(), b"Caf\xe9")


def run(data: bytes, **kwargs):
    return contacts_import(file=io.BytesIO(data), now=NOW, **kwargs)


def test_import_reports_bad_rows_with_line_numbers_and_imports_the_good_ones():
    result = run(MESSY)
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    assert [str(row) for row in result.invalid] == [
        "line 4: empty phone",
        "line 7: invalid phone '12ab': only digits, spaces, dashes, dots, brackets and a leading + are allowed",
    ]
    assert result.summary == "created=4 updated=0 unchanged=0 invalid=2"
    assert (result.encoding, result.merged) == ("cp1252", 1)
    assert set(Contact.objects.values_list("phone", flat=True)) == {
        "+14155550101",
        "+14155550102",
        "+14155550103",
        "+447911123456",
    }
    assert Contact.objects.get(phone="+14155550103").name == "Café"


def test_import_merges_duplicates_and_keeps_extra_columns_as_typed_attributes():
    run(MESSY)
    ann = Contact.objects.get(phone="+14155550101")
    # The later row (line 5) wins where it gives a value; the earlier one fills in the rest.
    assert ann.name == "Ann B. Lee"
    assert ann.first_name == "Ann"
    assert ann.language == "en_US"
    assert ann.attributes == {"tier": "platinum", "total_spent": 250, "city": "Paris", "zip": "00712"}
    assert set(ann.tags.values_list("name", flat=True)) == {"vip", "new", "loyal"}
    bob = Contact.objects.get(phone="+14155550102")
    assert bob.attributes == {"tier": "silver", "total_spent": 99.5, "city": "Lyon"}
    kim = Contact.objects.get(phone="+447911123456")
    assert kim.attributes["total_spent"] == "1e3"  # only plain decimals become numbers
    assert kim.subscription == Contact.Subscription.SUBSCRIBED
    assert kim.subscription_reason == Contact.SubscriptionReason.IMPORT


def test_reimport_without_update_leaves_existing_contacts_unchanged():
    run(MESSY)
    again = run(b"phone,name,tier\n+14155550101,Someone Else,bronze\n+14155550104,Dee,gold\n", tag="spring")
    assert again.summary == "created=1 updated=0 unchanged=1 invalid=0"
    ann = Contact.objects.get(phone="+14155550101")
    assert ann.name == "Ann B. Lee" and ann.attributes["tier"] == "platinum"
    assert not ann.tags.filter(name="spring").exists()
    assert Contact.objects.get(phone="+14155550104").tags.filter(name="spring").exists()


def test_import_with_update_updates_name_attributes_and_tags_and_counts_unchanged():
    run(MESSY)
    data = b"whatsapp,name,tier,language\n14155550101,Ann Lee,gold,fr-FR\n14155550102,Bob Stone,silver,\n"
    result = run(data, update=True)
    assert result.summary == "created=0 updated=1 unchanged=1 invalid=0"
    ann = Contact.objects.get(phone="+14155550101")
    assert (ann.name, ann.first_name, ann.language) == ("Ann Lee", "Ann", "fr_FR")
    assert ann.attributes == {"tier": "gold", "total_spent": 250, "city": "Paris", "zip": "00712"}
    tagged = run(b"phone\n14155550102\n", update=True, tag="spring")
    assert tagged.summary == "created=0 updated=1 unchanged=0 invalid=0"
    assert Contact.objects.get(phone="+14155550102").tags.filter(name="spring").exists()


def test_an_import_never_resubscribes_an_unsubscribed_contact():
    ContactFactory(phone="+14155550101", unsubscribed=True, name="Old")
    for update in (False, True):
        run(b"phone,name,subscribed\n+14155550101,New Name,yes\n", update=update)
        contact = Contact.objects.get(phone="+14155550101")
        assert contact.subscription == Contact.Subscription.UNSUBSCRIBED
    assert contact.name == "New Name"


def test_an_import_can_record_an_opt_out():
    ContactFactory(phone="+14155550101")
    result = run(b"phone,subscribed\n+14155550101,no\n+14155550102,opted out\n+14155550103,maybe\n", update=True)
    assert [str(r) for r in result.invalid] == ["line 4: subscribed: 'maybe' is neither yes nor no"]
    assert set(Contact.objects.filter(subscription="unsubscribed").values_list("phone", flat=True)) == {
        "+14155550101",
        "+14155550102",
    }


def test_dry_run_counts_like_the_real_import_and_saves_nothing():
    TagFactory(name="existing")
    assert run(MESSY, dry_run=True).summary == run(MESSY).summary == "created=4 updated=0 unchanged=0 invalid=2"
    Contact.objects.all().delete()
    run(MESSY, dry_run=True)
    assert Contact.objects.count() == 0


def test_semicolon_files_and_a_bom_are_read():
    result = run("\ufeffTelephone;Name;Score\n+14155550101;Ann;7\n".encode())
    assert result.summary == "created=1 updated=0 unchanged=0 invalid=0"
    assert Contact.objects.get().attributes == {"score": 7}


def test_a_file_without_a_phone_column_is_refused_as_a_whole():
    with pytest.raises(ImportFileError, match="no phone column"):
        run(b"name,city\nAnn,Paris\n")
    with pytest.raises(ImportFileError, match="empty"):
        run(b"")


def test_import_contacts_command_prints_summary_then_one_line_per_invalid_row(tmp_path: Path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(MESSY)
    out = io.StringIO()
    call_command("import_contacts", str(path), "--tag", "march", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "created=4 updated=0 unchanged=0 invalid=2"
    assert lines[1] == "line 4: empty phone"
    assert lines[2].startswith("line 7: invalid phone '12ab': ")
    assert len(lines) == 3
    assert Contact.objects.filter(tags__name="march").count() == 4
    out = io.StringIO()
    call_command("import_contacts", str(path), "--update", stdout=out)
    assert out.getvalue().splitlines()[0] == "created=0 updated=0 unchanged=4 invalid=2"


def test_import_contacts_command_fails_clearly_on_a_missing_file(tmp_path: Path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_contacts", str(tmp_path / "nope.csv"))
