"""Run the local WhatsApp Cloud API sandbox (see whatsapp/sandbox.py)."""

import argparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from whatsapp.sandbox import SandboxServer


class Command(BaseCommand):
    help = "Serve a local stand-in for the WhatsApp Cloud API that posts signed status webhooks back."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/whatsapp/webhook/")
        parser.add_argument("--latency-ms", type=float, default=50)
        parser.add_argument("--fail-rate", type=float, default=0.05, help="share of sends that fail (0..1)")
        parser.add_argument("--rate-limit-mps", type=float, default=80, help="above it: HTTP 429, code 130429")
        parser.add_argument("--read-rate", type=float, default=0.7)
        parser.add_argument("--click-rate", type=float, default=0.3, help="read messages whose tracked link is tapped")
        parser.add_argument("--reply-rate", type=float, default=0.2, help="read messages answered by a quick reply")
        parser.add_argument(
            "--link-base-url", default=None, help="where the app serves /r/<token> (default: from --webhook-url)"
        )
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="accept, then answer too late")
        parser.add_argument("--hang-seconds", type=float, default=None, help="default: the client's read timeout + 1")
        parser.add_argument("--shuffle-rate", type=float, default=0.0)
        parser.add_argument("--duplicate-rate", type=float, default=0.0)
        parser.add_argument("--status-delay-ms", type=float, default=1000, help="between sent, delivered and read")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--messaging-tier", default="TIER_250", help="what GET /<PHONE_NUMBER_ID> answers")
        parser.add_argument(
            "--scene",
            action="append",
            default=[],
            metavar="SECONDS:SCENE",
            help="play a platform scene after SECONDS: template-paused=NAME/LANG, template-unpaused=NAME/LANG, "
            "tier-upgrade=TIER_2K, account-restricted=HOURS (repeatable)",
        )
        parser.add_argument(
            "--hold-us-marketing",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="marketing templates to +1 numbers: accepted, then failed with 131049, as Meta does",
        )

    def handle(self, *args, **options):
        if not settings.WHATSAPP_APP_SECRET:
            raise CommandError("WHATSAPP_APP_SECRET is not set: the sandbox signs its webhooks with it")
        hang = options["hang_seconds"]
        link_base_url = options["link_base_url"]
        if link_base_url is None and options["webhook_url"]:
            link_base_url = options["webhook_url"].split("/whatsapp/")[0]
        sandbox = SandboxServer(
            webhook_url=options["webhook_url"] or None,
            app_secret=settings.WHATSAPP_APP_SECRET,
            access_token=settings.WHATSAPP_ACCESS_TOKEN or None,
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "100000000000001",
            waba_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID or "200000000000002",
            host=options["host"],
            port=options["port"],
            latency_ms=options["latency_ms"],
            fail_rate=options["fail_rate"],
            rate_limit_mps=options["rate_limit_mps"] or None,
            read_rate=options["read_rate"],
            click_rate=options["click_rate"],
            reply_rate=options["reply_rate"],
            link_base_url=link_base_url,
            timeout_rate=options["timeout_rate"],
            hang_seconds=hang if hang is not None else settings.WHATSAPP_READ_TIMEOUT + 1,
            shuffle_rate=options["shuffle_rate"],
            duplicate_rate=options["duplicate_rate"],
            status_delay_ms=options["status_delay_ms"],
            seed=options["seed"],
            messaging_tier=options["messaging_tier"],
            hold_us_marketing=options["hold_us_marketing"],
        )
        for scene in options["scene"]:
            self._schedule(sandbox, scene)
        self.stdout.write(
            f"WhatsApp sandbox on {sandbox.url} (set WHATSAPP_API_BASE_URL to it); "
            f"webhooks to {options['webhook_url']}. Ctrl-C to stop."
        )
        try:
            sandbox.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("sandbox stopped")

    def _schedule(self, sandbox: SandboxServer, scene: str) -> None:
        """Play `SECONDS:NAME=ARG` once, SECONDS after start, from a timer thread (the demo's platform scenes)."""
        import threading
        import time

        try:
            delay, _, rest = scene.partition(":")
            name, _, arg = rest.partition("=")
            delay_s = float(delay)
        except ValueError as exc:
            raise CommandError(f"--scene {scene!r}: expected SECONDS:SCENE=ARG") from exc
        plays = {
            "template-paused": lambda: sandbox.scene_template_paused(*arg.split("/", 1)),
            "template-unpaused": lambda: sandbox.scene_template_unpaused(*arg.split("/", 1)),
            "tier-upgrade": lambda: sandbox.scene_tier_upgrade(arg or "TIER_2K"),
            "account-restricted": lambda: sandbox.post_account_update(
                "ACCOUNT_RESTRICTION",
                restriction_info=[{
                    "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                    "expiration": time.strftime("%Y-%m-%dT%H:%M:%S+0000",
                                                time.gmtime(time.time() + 3600 * float(arg or 1))),
                }],
            ),
        }  # fmt: skip
        if name not in plays or (name.startswith("template") and "/" not in arg):
            raise CommandError(f"--scene {scene!r}: unknown scene or missing NAME/LANG")
        timer = threading.Timer(delay_s, lambda: self.stdout.write(f"scene {name}: webhook answered {plays[name]()}"))
        timer.daemon = True
        timer.start()
