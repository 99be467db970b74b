"""The admin's import: upload, a preview computed by a worker, confirm, the import by a worker, rejected rows as CSV.

The upload is kept under VAR_DIR/imports only between the preview and the
import (or a cancel), never after; nothing is saved before confirming.
"""

import csv
import io

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve, reverse

from audiences import jobs
from audiences.models import Contact
from audiences.tasks import import_contacts_task
from tests.audiences.test_import_files import french_csv

IMPORT = reverse("admin:audiences_contact_import")


def job_id(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    match = resolve(response.url)
    assert match.url_name == "audiences_contact_import_job"
    return match.kwargs["task_id"]


def finish(client, task_id: str):
    import_contacts_task.AsyncResult(task_id).get(timeout=60)
    return client.get(reverse("admin:audiences_contact_import_job", args=[task_id]))


def uploads(tmp_path):
    folder = tmp_path / "imports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_previewed_then_imported_by_the_worker(live_celery_worker, admin_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    data = french_csv() + "12ab;Mauvais;Rome;1\r\n06 14 00 00 01;Élodie M.;Paris;;\r\n".encode("cp1252")
    upload = SimpleUploadedFile("clients.csv", data)
    response = admin_client.post(IMPORT, {"file": upload, "region": "FR", "tag": "printemps", "language": "fr-fr"})
    preview_id = job_id(response)
    page = finish(admin_client, preview_id)
    html = page.content.decode()
    assert page.context["job"].dry_run and page.context["job"].ok
    result = page.context["result"]
    assert (result["created"], result["merged"], result["invalid_count"]) == (6, 1, 1)
    assert "line 8" not in html and '<td class="num" id="import-invalid">1</td>' in html
    assert "<code>attributes.total_depense</code>" in html  # the column mapping
    assert "+33614000001" in html and "<td>212.83</td>" in html  # the first rows as stored
    assert "invalid phone &#x27;12ab&#x27;" in html
    assert "encoding Windows-1252 (detected: not UTF-8 from line 1 on)" in html and "France (+33)" in html
    assert "the last name, after the first name in the name" not in html and "an attribute" in html
    assert Contact.objects.count() == 0  # a preview saves nothing
    assert len(uploads(tmp_path)) == 1

    response = admin_client.post(reverse("admin:audiences_contact_import_confirm", args=[preview_id]))
    page = finish(admin_client, job_id(response))
    html = page.content.decode()
    assert "Import done: 6 contacts created, 0 updated, 0 unchanged, 1 rows rejected." in html
    assert Contact.objects.filter(tags__name="printemps").count() == 6
    assert Contact.objects.get(phone="+33614000001").name == "Élodie M."  # the later row merged in
    assert set(Contact.objects.values_list("language", flat=True)) == {"fr_FR"}
    assert [name.endswith("-rejected.csv") for name in uploads(tmp_path)] == [True]  # the upload itself is gone
    assert LogEntry.objects.filter(change_message__contains="created=6").exists()

    download = admin_client.get(
        page.context["outcome"]
        and reverse("admin:audiences_contact_import_rejected", args=[page.context["outcome"]["token"]])
    )
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["line", "reason", "Téléphone", "Nom complet", "Ville", "Total dépensé"]
    assert rows[1][:3] == ["8", rows[1][1], "12ab"] and rows[1][1].startswith("invalid phone '12ab'")

    # Confirming twice does nothing: the upload is gone.
    response = admin_client.post(reverse("admin:audiences_contact_import_confirm", args=[preview_id]), follow=True)
    assert "expired" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_file_level_error_is_shown_and_the_upload_removed(live_celery_worker, admin_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    junk = SimpleUploadedFile("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    page = finish(admin_client, job_id(admin_client.post(IMPORT, {"file": junk, "region": "US"})))
    assert not page.context["job"].ok
    assert "does not look like a CSV" in page.content.decode()
    assert uploads(tmp_path) == []


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_preview_deletes_the_upload(live_celery_worker, admin_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    upload = SimpleUploadedFile("c.csv", b"phone\n+14155550101\n")
    preview_id = job_id(admin_client.post(IMPORT, {"file": upload, "region": "US"}))
    finish(admin_client, preview_id)
    assert len(uploads(tmp_path)) == 1
    admin_client.post(reverse("admin:audiences_contact_import_cancel", args=[preview_id]))
    assert uploads(tmp_path) == [] and Contact.objects.count() == 0


def test_the_upload_form_offers_the_country_and_encoding(admin_client, settings):
    settings.PHONE_DEFAULT_REGION = "BR"
    html = admin_client.get(IMPORT).content.decode()
    assert '<option value="FR">France (+33)</option>' in html
    assert '<option value="BR" selected>Brazil (+55)</option>' in html
    assert "Windows-1252" in html


def test_an_unknown_job_cannot_be_confirmed_and_tokens_are_checked(admin_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    response = admin_client.post(reverse("admin:audiences_contact_import_confirm", args=["nope"]), follow=True)
    assert "expired" in response.content.decode()
    assert admin_client.get(reverse("admin:audiences_contact_import_rejected", args=["not-a-token"])).status_code == 404
    assert admin_client.get(reverse("admin:audiences_contact_import_rejected", args=["0" * 32])).status_code == 404


def test_old_uploads_are_removed_at_the_next_upload(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CELERY_RESULT_EXPIRES = 3600  # then a preview can no longer be confirmed
    old = jobs.import_upload_store(chunks=[b"phone\n"])
    jobs.rejected_path(old).write_text("line,reason\n")
    jobs.import_upload_store(chunks=[b"phone\n"], now=jobs.time.time() + 3700)
    assert not jobs.upload_path(old).exists() and jobs.rejected_path(old).exists()
    new = jobs.import_upload_store(chunks=[b"phone\n"], now=jobs.time.time() + jobs.UPLOAD_MAX_AGE + 10)
    assert not jobs.rejected_path(old).exists() and jobs.upload_path(new).exists()


def test_viewers_cannot_import(viewer_client):
    assert viewer_client.get(IMPORT).status_code == 403
    assert viewer_client.get(reverse("admin:audiences_contact_import_job", args=["x"])).status_code == 403
