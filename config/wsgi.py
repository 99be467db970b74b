"""The WSGI application: Django, with the tracked link's taps answered ahead of it (campaigns/link_wsgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from campaigns.link_wsgi import LinkRedirectMiddleware  # noqa: E402 (needs the apps loaded)

application = LinkRedirectMiddleware(django_application)
