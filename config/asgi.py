"""The ASGI application: Django, with the tracked link's taps answered ahead of it in batches (campaigns/link_asgi.py).

The link server: gunicorn -c python:config.gunicorn_links config.asgi:application (docs/architecture.md,
"Engagement").
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from campaigns.link_asgi import LinkRedirectASGI  # noqa: E402 (needs the apps loaded)

application = LinkRedirectASGI(django_application)
