from django.urls import reverse


def test_admin_login_page_renders(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200


def test_operator_sees_the_schedule_in_the_admin(admin_client):
    response = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert response.status_code == 200
    assert b"Send campaign batch" in response.content
