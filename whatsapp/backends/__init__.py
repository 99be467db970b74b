"""Pick the configured backend (settings.WHATSAPP_BACKEND), like Django's EMAIL_BACKEND."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from whatsapp.backends.base import BaseBackend, SendResult

__all__ = ["BaseBackend", "SendResult", "get_backend", "reset_backend"]

_lock = threading.Lock()
_instance: BaseBackend | None = None
_instance_path: str | None = None


def get_backend() -> BaseBackend:
    """The configured backend: one instance per process, created once even under concurrent first calls."""
    global _instance, _instance_path
    path = settings.WHATSAPP_BACKEND
    instance = _instance
    if instance is not None and _instance_path == path:
        return instance
    with _lock:
        if _instance is None or _instance_path != path:
            if _instance is not None:
                _instance.close()
            _instance = import_string(path)()
            _instance_path = path
        return _instance


def reset_backend() -> None:
    """Drop the process's backend so the next `get_backend()` reads the settings again."""
    global _instance, _instance_path
    with _lock:
        if _instance is not None:
            _instance.close()
        _instance, _instance_path = None, None


def _on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith("WHATSAPP_"):
        reset_backend()


setting_changed.connect(_on_setting_changed, dispatch_uid="whatsapp.backends.reset_on_setting_changed")
