"""Imports that understand real files: region, encoding, delimiter, decimal commas, .xlsx, and bad files.

Every file is built here, byte for byte. A file-level problem (binary, mixed
encodings) is one ImportFileError and writes nothing; a bad row is reported
with its line and the rows around it still import.
"""

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audiences.attributes import coerce_value
from audiences.imports import ImportFileError
from audiences.models import Audience, Contact
from audiences.selectors import audience_contacts
from audiences.services import contacts_import

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

# What a French operator's Excel saves: semicolons, Windows-1252 accents, decimal commas, national numbers.
FRENCH_ROWS = [
    ("06 14 00 00 01", "Élodie Martin", "Paris", "212,83"),
    ("06 14 00 00 02", "François Dupré", "Lyon", "1.234,50"),
    ("07 81 00 00 03", "Zoé Lefèvre", "Nîmes", "99,90"),
    ("01 45 00 00 04", "Anaïs Noël", "Besançon", "100"),
    ("06 14 00 00 05", "Loïc Garçon", "Orléans", "100,01"),
    ("+33 6 14 00 00 06", "Hélène Côté", "Sète", "1 050,00"),
]


def french_csv() -> bytes:
    lines = ["Téléphone;Nom complet;Ville;Total dépensé"] + [";".join(row) for row in FRENCH_ROWS]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def run(data: bytes, **kwargs):
    return contacts_import(file=io.BytesIO(data), now=NOW, **kwargs)


def test_a_french_excel_csv_imports_every_row_with_region_fr():
    result = run(french_csv(), region="FR")
    assert (result.summary, result.invalid) == ("created=6 updated=0 unchanged=0 invalid=0", [])
    assert (result.encoding, result.delimiter, result.region) == ("cp1252", ";", "FR")
    assert [c["target"] for c in result.columns] == ["phone", "name", "attributes.ville", "attributes.total_depense"]
    elodie = Contact.objects.get(phone="+33614000001")
    assert (elodie.name, elodie.attributes) == ("Élodie Martin", {"ville": "Paris", "total_depense": 212.83})
    spent = dict(Contact.objects.values_list("phone", "attributes__total_depense"))
    assert spent == {
        "+33614000001": 212.83,
        "+33614000002": 1234.5,
        "+33781000003": 99.9,
        "+33145000004": 100,
        "+33614000005": 100.01,
        "+33614000006": 1050.0,
    }
    audience = Audience(name="big", rules={"conditions": [{"key": "total_depense", "op": "gt", "value": "100"}]})
    assert audience_contacts(audience=audience).count() == 4  # 212,83 1.234,50 100,01 1 050,00


def test_without_the_region_french_numbers_are_rejected_with_the_reason():
    result = run(french_csv(), region="US")
    assert result.created == 1  # only the one written +33
    assert "line 2: invalid phone '06 14 00 00 01'" in str(result.invalid[0])


def test_import_contacts_command_takes_region_encoding_and_decimal(tmp_path: Path):
    path = tmp_path / "clients.csv"
    path.write_bytes(french_csv())
    out = io.StringIO()
    call_command(
        "import_contacts", str(path), "--region", "fr", "--encoding", "cp1252", "--language", "fr-FR", stdout=out
    )
    assert out.getvalue().splitlines() == ["created=6 updated=0 unchanged=0 invalid=0"]
    assert Contact.objects.get(phone="+33614000002").attributes["total_depense"] == 1234.5
    assert set(Contact.objects.values_list("language", flat=True)) == {"fr_FR"}
    with pytest.raises(CommandError, match="unknown region"):
        call_command("import_contacts", str(path), "--region", "XX")
    with pytest.raises(CommandError, match="not valid utf-8"):
        call_command("import_contacts", str(path), "--encoding", "utf-8")


@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"],
)
def test_the_encoding_is_detected_for_the_whole_file(encoding):
    text = "phone,name,city\n+33614000001,Zoé,Nîmes\n+33614000002,Ana,Lyon\n+33614000003,Loïc,Sète\n"
    result = run(text.encode(encoding))
    assert result.summary == "created=3 updated=0 unchanged=0 invalid=0"
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Ana", "Loïc", "Zoé"]
    assert Contact.objects.get(name="Zoé").attributes == {"city": "Nîmes"}


def test_a_file_mixing_utf8_and_latin1_is_refused_whole_and_an_override_reads_it():
    data = "phone,name\n+33614000001,Zoé\n".encode() + "+33614000002,Loïc\n".encode("latin-1")
    with pytest.raises(ImportFileError, match="mixes UTF-8 with another encoding .* line 3"):
        run(data)
    assert not Contact.objects.exists()
    result = run(data, encoding="latin-1")  # the operator's choice: read all of it that way
    assert result.created == 2 and result.encoding == "iso8859-1"


@pytest.mark.parametrize(
    ("text", "decimal_comma", "expected"),
    [
        ("212,83", None, 212.83),
        ("1.234,50", None, 1234.5),
        ("1,234.50", None, 1234.5),
        ("1 234,50", None, 1234.5),
        ("1,234,567", None, 1234567),
        ("1,234", None, "1,234"),  # ambiguous without a convention
        ("1,234", True, 1.234),
        ("1,234", False, 1234),
        ("1.234", True, 1234),
        ("1.234", None, 1.234),
        ("-0,5", None, -0.5),
        ("007", None, "007"),
        ("06 14 00 00 00", True, "06 14 00 00 00"),
        ("1e3", None, "1e3"),
    ],
)
def test_numbers_with_decimal_commas_and_thousands_separators(text, decimal_comma, expected):
    assert coerce_value(text, decimal_comma=decimal_comma) == expected


def test_a_comma_file_reads_quoted_thousands_and_a_tab_file_decimal_commas():
    run(b'phone,spent\n+33614000001,"1,234"\n')
    run(b"phone\tspent\n+33614000002\t1,234\n")
    spent = dict(Contact.objects.values_list("phone", "attributes__spent"))
    assert spent == {"+33614000001": 1234, "+33614000002": 1.234}


def xlsx_bytes(rows) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_file_imports_with_typed_cells():
    data = xlsx_bytes(
        [
            ["Mobile", "Name", "Total spent", "Joined", "Code"],
            [614000001, "Zoé", 212.83, dt.datetime(2025, 1, 2), "007"],  # a number cell: no leading 0
            ["06 14 00 00 02", "Ana", 1500, None, None],
            [None, None, None, None, None],
            ["not a phone", "Bad", 1, None, None],
        ]
    )
    result = run(data, region="FR")
    assert (result.format, result.summary) == ("xlsx", "created=2 updated=0 unchanged=0 invalid=1")
    assert str(result.invalid[0]).startswith("line 5: invalid phone 'not a phone'")
    zoe = Contact.objects.get(phone="+33614000001")
    assert zoe.attributes == {"total_spent": 212.83, "joined": "2025-01-02T00:00:00", "code": "007"}
    assert Contact.objects.get(phone="+33614000002").attributes == {"total_spent": 1500}


def test_a_broken_xlsx_is_one_clear_error():
    with pytest.raises(ImportFileError, match="cannot be read"):
        run(b"PK\x03\x04" + b"\x00garbage" * 50)


def test_a_nul_byte_rejects_its_row_only():
    result = run(b"phone,name\n+33614000001,Ann\n+33614000002,B\x00b\n+33614000003,Cat\n")
    assert result.summary == "created=2 updated=0 unchanged=0 invalid=1"
    assert str(result.invalid[0]) == "line 3: contains a NUL character (binary data?)"


def test_cr_only_line_ends_are_lines():
    result = run(b"phone,name\r+33614000001,Ann\r+33614000002,Bob\r\r12ab,Bad\r")
    assert result.summary == "created=2 updated=0 unchanged=0 invalid=1"
    assert str(result.invalid[0]).startswith("line 5: invalid phone '12ab'")


def test_an_unclosed_quote_is_reported_and_does_not_swallow_the_next_rows():
    lines = ["phone,name,city", '+33614000001,"Ann,Paris'] + [f"+336140000{n:02d},P{n},Lyon" for n in range(2, 40)]
    result = run(("\n".join(lines) + "\n").encode())
    assert result.created == 38
    assert [str(r) for r in result.invalid] == [
        "line 2: a quote opened on this line is never closed; the lines after it were read as rows"
    ]
    # The same at the end of a short file, and a quote closed too early.
    result = run(b'phone,name\n+33614000050,Ann\n+33614000051,"Bob\n+33614000052,Cat\n')
    assert result.invalid[0].line == 3 and result.created == 2
    result = run(b'phone,name\n+33614000060,"Ann" Lee\n+33614000061,Bob\n')
    assert result.invalid[0].line == 2 and "badly quoted" in result.invalid[0].reason


def test_a_quoted_field_may_span_lines():
    result = run(b'phone,name,address\n+33614000001,Ann,"1 rue X\n75001 Paris"\n+33614000002,Bob,\n')
    assert result.summary == "created=2 updated=0 unchanged=0 invalid=0"
    assert Contact.objects.get(name="Ann").attributes["address"] == "1 rue X\n75001 Paris"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500,
    ],
    ids=["png", "pdf", "xls"],
)
def test_a_binary_file_is_one_file_level_error(data):
    with pytest.raises(ImportFileError, match="CSV|xls"):
        run(data)
    assert not Contact.objects.exists()


def test_duplicates_merge_across_batches_as_within_one():
    rows = ["phone,name,tier,tags", "+33614000001,Ann,gold,vip"]
    rows += [f"+3361400{n:04d},P{n},x," for n in range(10, 20)]
    rows += ["+33614000001,,platinum,new", "33614000001,Ann Lee,,"]
    result = run(("\n".join(rows) + "\n").encode(), batch_size=3)
    assert result.summary == "created=11 updated=0 unchanged=0 invalid=0"
    assert result.merged == 2
    ann = Contact.objects.get(phone="+33614000001")
    assert (ann.name, ann.attributes) == ("Ann Lee", {"tier": "platinum"})
    assert set(ann.tags.values_list("name", flat=True)) == {"vip", "new"}


def test_rejected_rows_go_to_a_csv_with_line_and_reason():
    rejected = io.StringIO()
    run(b"phone;name\n12ab;Bad\n+33614000001;Ann\n;Nobody\n", rejected=rejected)
    rows = list(csv.reader(io.StringIO(rejected.getvalue())))
    assert rows[0] == ["line", "reason", "phone", "name"]
    assert rows[1][0] == "2" and rows[1][1].startswith("invalid phone '12ab'") and rows[1][2:] == ["12ab", "Bad"]
    assert rows[2] == ["4", "empty phone", "", "Nobody"]


def test_new_contacts_without_a_language_get_the_chosen_one_and_existing_ones_keep_theirs():
    from tests.factories.audiences import ContactFactory

    ContactFactory(phone="+33614000001", language="en_GB")
    data = b"phone;langue\n+33614000001;\n+33614000002;\n+33614000003;es_ES\n"
    result = run(data, language="fr_FR", update=True)
    assert result.sample[1]["language"] == "fr_FR"
    languages = dict(Contact.objects.values_list("phone", "language"))
    assert languages == {"+33614000001": "en_GB", "+33614000002": "fr_FR", "+33614000003": "es_ES"}
