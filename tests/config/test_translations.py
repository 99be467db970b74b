"""The Spanish translation is complete, compiled, committed, and what the admin shows to a Spanish browser.

English stays the default (no Accept-Language, LANGUAGE_CODE en-us); the
admin follows the browser's Accept-Language among settings.LANGUAGES. The
.mo is committed so that a fresh clone needs no gettext tools: these tests
fail when it falls behind the .po.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.translation import to_locale

from tests.factories.campaigns import CampaignFactory

LOCALE = Path(settings.BASE_DIR) / "locale"
SHIPPED = [to_locale(code) for code, _name in settings.LANGUAGES if code != "en"]  # locale folder names: pt_BR


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file (header excluded): msgctxt, msgid, msgid_plural, msgstr / msgstr[n], flags."""
    entries, entry, field = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and entry.get("msgid"):
                entries.append(entry)
            entry, field = None, None
            continue
        entry = entry if entry is not None else {"flags": set(), "obsolete": False, "msgstr": {}}
        if line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif match := re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?) "(.*)"$', line):
            name, index, text = match.groups()
            field = ("msgstr", int(index or 0)) if name.startswith("msgstr") else name
            _store(entry, field, text)
        elif (match := re.match(r'"(.*)"$', line)) and field:
            _store(entry, field, match.group(1), append=True)
    return entries


def _store(entry: dict, field, text: str, append: bool = False) -> None:
    text = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)
    if isinstance(field, tuple):
        entry["msgstr"][field[1]] = entry["msgstr"].get(field[1], "") + text if append else text
    else:
        entry[field] = entry.get(field, "") + text if append else text


def catalog_key(entry: dict) -> str:
    """The key Python's gettext gives the entry in a loaded .mo catalog."""
    key = entry["msgid"] if "msgctxt" not in entry else f"{entry['msgctxt']}\x04{entry['msgid']}"
    return key


@pytest.fixture(params=SHIPPED)
def language(request) -> str:
    return request.param


def test_languages_shipped_are_english_and_spanish():
    assert [code for code, _name in settings.LANGUAGES] == ["en", "es"]
    assert settings.LANGUAGE_CODE == "en-us"
    assert LOCALE in [Path(p) for p in settings.LOCALE_PATHS]


def test_every_entry_of_the_po_file_is_translated_and_none_is_fuzzy(language):
    entries = [e for e in po_entries(LOCALE / language / "LC_MESSAGES" / "django.po") if not e["obsolete"]]
    assert len(entries) > 600
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values()) or not e["msgstr"]]
    assert fuzzy == []
    assert untranslated == []


def test_placeholders_survive_the_translation(language):
    """Every %(name)s of the English is in the translation: a missing one would raise at run time."""
    for entry in po_entries(LOCALE / language / "LC_MESSAGES" / "django.po"):
        names = set(re.findall(r"%\((\w+)\)", entry["msgid"] + entry.get("msgid_plural", "")))
        for text in entry["msgstr"].values():
            assert set(re.findall(r"%\((\w+)\)", text)) <= names, entry["msgid"]
            if "msgid_plural" not in entry:
                assert set(re.findall(r"%\((\w+)\)", text)) == names, entry["msgid"]


def test_the_committed_mo_file_holds_every_entry_of_the_po_file(language):
    """The .mo is compiled and committed (a fresh clone needs no msgfmt): it must carry the .po as it is now."""
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog
    stale = []
    for entry in po_entries(folder / "django.po"):
        if entry["obsolete"]:
            continue
        key = catalog_key(entry)
        plural = "msgid_plural" in entry
        got = {n: catalog.get((key, n) if plural else key) for n in entry["msgstr"]}
        if got != entry["msgstr"]:
            stale.append(entry["msgid"])
    assert stale == [], "django.mo is out of date: run `manage.py compilemessages` and commit the .mo"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt (gettext) is not installed")
def test_the_po_file_compiles_with_msgfmt_check_to_the_committed_catalog(language, tmp_path):
    folder = LOCALE / language / "LC_MESSAGES"
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(folder / "django.po")], check=True)
    with compiled.open("rb") as fresh, (folder / "django.mo").open("rb") as committed:
        assert gettext.GNUTranslations(fresh)._catalog == gettext.GNUTranslations(committed)._catalog


# --- what a Spanish browser sees -----------------------------------------------------------------


def test_without_accept_language_the_admin_stays_english(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Messaging limit" in page
    assert 'lang="en' in page


def test_today_is_in_spanish_for_a_spanish_browser(admin_client):
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").content.decode()
    assert 'lang="es"' in page
    assert "Hoy" in page
    assert "Límite de mensajes" in page
    assert "Próximo lote de envío" in page
    assert "Campañas de WhatsApp" in page  # the site header
    assert "Messaging limit" not in page


def test_a_campaign_page_shows_its_lifecycle_in_spanish(admin_client):
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Ciclo de vida: Borrador" in page
    assert "Enviar prueba" in page
    assert "Activar" in page
    assert "Vista previa del mensaje" in page
    assert "Programación" in page  # a fieldset title
    assert "Lifecycle" not in page


def test_the_import_form_labels_are_in_spanish(admin_client):
    page = admin_client.get(reverse("admin:audiences_contact_import"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "País de los números nacionales" in page
    assert "Idioma de los contactos nuevos" in page
    assert "Importar contactos" in page


def test_a_validation_message_is_in_spanish(admin_client):
    response = admin_client.post(reverse("admin:audiences_audience_add"), {"name": "Nadie"}, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200  # the form again, with its error
    assert "elige al menos una regla de etiqueta, idioma o atributo" in response.content.decode()


def test_the_error_table_is_read_in_the_operators_language():
    """The failures table's "Meaning" and "What to do": English rows, translated when read."""
    from django.utils import translation

    from whatsapp.errors import error_help

    with translation.override("es"):
        spanish = error_help(131026)
        paused = error_help(132001)
    assert spanish.meaning.startswith("Mensaje no entregable")
    assert paused.action.startswith("Un envío rechazado con este código pausa la campaña")
    assert error_help(131026).meaning.startswith("Message undeliverable")
