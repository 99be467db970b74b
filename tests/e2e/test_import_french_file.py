"""A French operator's Excel file through the admin, in a real browser, against a live server and a real worker.

A semicolon-separated, Windows-1252 CSV of French national numbers with
decimal commas (as French Excel saves it) is uploaded with the country France,
previewed (column mapping, first rows as stored, nothing rejected), imported,
and an audience `total_spent > 100` built in the builder finds every such
contact: its live count appears before saving. Screenshots of each step are in
tests/e2e/artifacts/.
"""

import pytest

from audiences.models import Audience, Contact
from audiences.selectors import audience_contacts
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SPENT = ["212,83", "1.234,50", "99,90", "100", "100,01", "1 050,00", "15", "0,5", "450", "87,20",
         "2.000", "100,00", "350,75", "12,5", "101", "9.999,99", "64", "100,5"]  # fmt: skip
CITIES = ["Paris", "Lyon", "Nîmes", "Besançon", "Orléans", "Sète"]


def french_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for n, spent in enumerate(SPENT):
        mobile = f"06 {14 + n:02d} 00 00 {n:02d}" if n % 2 else f"07 {81 + n % 10:02d} 00 00 {n:02d}"
        rows.append((mobile, f"Élodie Fréchette {n}", CITIES[n % len(CITIES)], spent))
    return rows


def over_100(spent: str) -> bool:
    number = float(spent.replace(" ", "").replace(".", "").replace(",", "."))
    return number > 100


def test_a_french_semicolon_latin1_file_imports_whole_and_its_audience_finds_every_big_spender(
    live_server, live_celery_worker, page, screenshot, tmp_path
):
    UserFactory(username="operator", is_superuser=True, password="correct horse battery staple")
    admin = f"{live_server.url}/admin"
    upload = tmp_path / "clients-fevrier.csv"
    lines = ["Téléphone;Nom;Ville;Total spent"] + [";".join(row) for row in french_rows()]
    upload.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    expected = sum(over_100(spent) for spent in SPENT)

    page.goto(f"{admin}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")

    # Upload with the country chosen on the form.
    page.goto(f"{admin}/audiences/contact/")
    page.click("text=Import contacts (CSV or Excel)")
    page.set_input_files("#id_file", str(upload))
    page.select_option("#id_region", "FR")
    page.fill("#id_language", "fr_FR")
    screenshot("upload-form")
    page.click("input[value='Preview import']")

    # The preview, computed by the worker: every row valid, columns and first rows as they will be stored.
    page.wait_for_selector("#import-created", timeout=60_000)
    assert page.inner_text("#import-created") == str(len(SPENT))
    assert page.inner_text("#import-invalid") == "0"
    mapping = page.inner_text("#import-mapping")
    assert "Téléphone" in mapping and "attributes.total_spent" in mapping
    sample = page.inner_text("#import-sample")
    assert "+33781000000" in sample and "Élodie Fréchette 0" in sample and "212.83" in sample and "fr_FR" in sample
    assert "Windows-1252" in page.inner_text("#import-reading")
    screenshot("import-preview")
    assert Contact.objects.count() == 0

    page.click("input[value^='Confirm']")
    page.wait_for_selector("#import-job .job-message.success", timeout=60_000)
    assert f"{len(SPENT)} contacts created" in page.inner_text("#import-job")
    screenshot("import-done")
    assert Contact.objects.filter(language="fr_FR").count() == len(SPENT)

    # The audience: the live preview counts before saving.
    page.goto(f"{admin}/audiences/audience/add/")
    page.fill("#id_name", "Gros clients")
    page.fill("#id_condition_1_0", "total_spent")
    page.select_option("#id_condition_1_1", "gt")
    page.fill("#id_condition_1_2", "100")
    page.wait_for_function(
        f"document.getElementById('audience-count') && document.getElementById('audience-count').textContent === "
        f"'{expected}'"
    )
    assert page.locator("#audience-sample table.audience-attributes").count() >= 1
    screenshot("audience-live-preview")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert page.inner_text("#audience-count") == str(expected)
    screenshot("audience-saved")

    audience = Audience.objects.get(name="Gros clients")
    found = set(audience_contacts(audience=audience).values_list("name", flat=True))
    assert found == {f"Élodie Fréchette {n}" for n, spent in enumerate(SPENT) if over_100(spent)}
