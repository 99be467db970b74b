"""System checks tell the operator what the Cloud API backend is missing."""

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
