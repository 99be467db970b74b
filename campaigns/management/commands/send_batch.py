"""Run the send batch once, now or as of a given instant."""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from campaigns.services import batch_send
from campaigns.timeparse import aware


class Command(BaseCommand):
    help = "Send every running campaign's share of what is left of the messaging limit."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO-8601 instant: behave exactly as if the clock read it")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--fan-out",
            action="store_true",
            help="hand the claims to the running workers' send tasks (the `send` queue), wait for them",
        )

    def handle(self, *args, as_of: str | None, json: bool, fan_out: bool, **opts):
        now = aware(as_of, "--as-of") if as_of else timezone.now()
        result = batch_send(now=now, fan_out=fan_out, wait=True)
        if json:
            self.stdout.write(_dumps(result.as_dict()))
        else:
            self.stdout.write(
                f"sent {result.sent}, failed {result.failed}, retry later {result.retry_later}, "
                f"unknown {result.unknown}, skipped {result.skipped}; limit {result.limit}, "
                f"used in 24 h {result.used_24h}, left {result.left}; "
                f"{result.as_dict()['messages_per_second']} messages/s"
            )


def _dumps(data: dict) -> str:
    return json.dumps(data, sort_keys=True)
