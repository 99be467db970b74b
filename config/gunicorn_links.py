"""gunicorn's settings for the tracked-link server (docker-compose.yml's `links`):
`gunicorn -c python:config.gunicorn_links config.asgi:application`.

The ASGI worker (campaigns/link_asgi.py records the taps that arrive together
in one transaction), two workers per machine of two cores, and no access log:
every tap a person makes is already a Click row (its time, recipient and
campaign), and a line per tap cost the server a quarter of its pace
(bench/redirect.py, link_server_counted against
link_server_counted_with_access_log). Errors, refused tokens (Django's "Not
Found") and the error log keep config/gunicorn.py's redaction.
"""

from config.gunicorn import *  # noqa: F403

bind = "0.0.0.0:8001"
worker_class = "asgi"
workers = 2
accesslog = None
