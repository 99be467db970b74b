"""The Celery app: settings from Django (CELERY_*), tasks autodiscovered."""

import os
from pathlib import Path

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# filesystem:// writes each message whole before a worker can see it (config/broker.py).
TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def ensure_local_folders(sender: Celery, **kwargs) -> None:
    """Create the folders of the serverless broker and result backend.

    The embedded run (kombu's filesystem transport, Celery's file:// result
    backend) writes to folders that must exist before the first message.
    """
    options = sender.conf.broker_transport_options or {}
    folders = [
        options[key]
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
        if key in options
    ]
    backend = sender.conf.result_backend or ""
    if backend.startswith("file://"):
        folders.append(backend.removeprefix("file://"))
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
