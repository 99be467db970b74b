"""System checks tell the operator what the Cloud API backend is missing, and refuse published secrets."""

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.whatsapp import payloads
from whatsapp.checks import check_whatsapp_settings


def test_cloud_backend_without_credentials_lists_each_missing_setting(settings):
    settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        setattr(settings, name, "")
    messages = [problem.msg for problem in check_whatsapp_settings()]
    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        assert any(message.startswith(name) for message in messages)


def test_configured_cloud_backend_and_test_backends_pass(settings):
    settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
    assert check_whatsapp_settings() == []
    settings.WHATSAPP_BACKEND = "whatsapp.backends.locmem.LocmemBackend"
    assert check_whatsapp_settings() == []


def test_a_backend_path_that_does_not_import_is_an_error(settings):
    settings.WHATSAPP_BACKEND = "whatsapp.backends.nope.Backend"
    (problem,) = check_whatsapp_settings()
    assert problem.id == "whatsapp.E001"


def test_the_default_keyword_lists_pass_the_checks():
    from whatsapp.checks import check_keywords

    assert check_keywords() == []


def test_a_keyword_in_both_lists_or_made_only_of_symbols_is_reported(settings):
    from whatsapp.checks import check_keywords

    settings.WHATSAPP_OPT_OUT_KEYWORDS = ["STOP", "Arrêt", "🛑"]
    settings.WHATSAPP_OPT_IN_KEYWORDS = ["START", "arret!"]
    assert [problem.id for problem in check_keywords()] == ["whatsapp.E004", "whatsapp.W002"]


# --- check --deploy refuses secrets published with the project -----------------

PRIVATE = {
    "SECRET_KEY": "a-private-key-" + "k" * 40,
    "WHATSAPP_APP_SECRET": "a-private-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "a-private-verify-token",
    "WHATSAPP_ACCESS_TOKEN": "a-private-access-token",
}


@pytest.fixture
def deployed(settings):
    """Production-like settings with secrets of its own and the Cloud backend."""
    settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
    for name, value in PRIVATE.items():
        setattr(settings, name, value)
    return settings


def check_deploy() -> None:
    """The whatsapp checks of `check --deploy` (Django's own depend on the test run's environment)."""
    call_command("check", "--deploy", "--tag", "whatsapp", stdout=io.StringIO(), stderr=io.StringIO())


def test_check_deploy_passes_with_secrets_of_ones_own(deployed):
    check_deploy()
    # .ci/run's own values
    for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"):
        setattr(deployed, name, "ci")
    check_deploy()


def published_values():
    """(setting, value) for every secret the demo, the sandbox stack, the tests and the benchmarks publish."""
    import dev

    for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"):
        yield name, dev.demo_environment()[name]
    yield "WHATSAPP_APP_SECRET", payloads.TEST_APP_SECRET
    yield "WHATSAPP_APP_SECRET", "bench-app-secret"
    yield "WHATSAPP_VERIFY_TOKEN", "bench-verify"
    yield "SECRET_KEY", "django-insecure-development-only-key-never-use-in-production"  # config/settings.py, DEBUG
    yield "SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789"  # config/test_settings.py


@pytest.mark.parametrize(("name", "value"), list(published_values()))
def test_check_deploy_fails_with_a_published_secret(deployed, name, value):
    setattr(deployed, name, value)
    with pytest.raises(SystemCheckError, match=rf"whatsapp\.E003.*{name}"):
        check_deploy()


def test_the_test_suites_own_secrets_would_be_refused(settings):
    from whatsapp.checks import check_secrets_are_not_public

    refused = [problem.msg.split()[0] for problem in check_secrets_are_not_public()]
    assert refused == ["SECRET_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"]


@pytest.mark.parametrize("name", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"])
def test_check_deploy_fails_with_an_empty_secret_on_the_cloud_backend(deployed, name):
    setattr(deployed, name, "")
    with pytest.raises(SystemCheckError, match=rf"whatsapp\.E002.*{name}"):
        check_deploy()


def test_docker_compose_has_no_default_for_any_secret():
    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    for name in ("SECRET_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"):
        assert re.search(rf"^\s+{name}: \$\{{{name}:\?[^}}]+\}}$", compose, re.MULTILINE), name
    assert "sandbox-app-secret" not in compose
    assert "check --deploy" in compose  # web refuses to start with a published secret
