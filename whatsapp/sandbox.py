"""A local stand-in for the WhatsApp Cloud API (stdlib only), for the demo, tests and benchmarks.

`SandboxServer` speaks the send endpoint (`POST /{version}/{phone_number_id}/messages`)
and the template list (`GET /{version}/{waba_id}/message_templates`) over real
HTTP, answers with real-shaped bodies and errors, and posts signed status
webhooks back (sent -> delivered -> read, or failed) from a background
dispatcher that batches whatever has piled up into one POST, like Meta does.
Once a message is read, a simulated person may tap it: its tracked link
(`click_rate`: a real GET of the app's /r/<token>, as a phone's browser) or
one of its quick replies (`reply_rate`: a signed inbound `button` message whose
context.id is the message's id).

Its HTTP side is one asyncio event loop in a thread (HTTP/1.1, keep-alive):
a thousand requests a second waiting out a 200 ms latency are a thousand
sleeping coroutines, where a thread per connection and a listen backlog of 5
reset connections long before that.

    with SandboxServer(webhook_url=..., app_secret=...) as sandbox:   # port 0: a free port
        ... point WHATSAPP_API_BASE_URL at sandbox.url ...
        sandbox.wait_idle(timeout=10)                                  # every queued webhook posted
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

# (HTTP status, code, title, details): refused at send time, like Meta's synchronous errors.
SYNC_ERRORS = [
    (500, 131000, "Something went wrong", "Message failed to send because of an unknown error."),
    (400, 131056, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages to this user."),
    (400, 131026, "Message undeliverable", "Unable to deliver message to this recipient."),
]
# (code, title, details): accepted, then a `failed` status webhook, like Meta's asynchronous errors.
WEBHOOK_ERRORS = [
    (131026, "Message undeliverable", "Message Undeliverable."),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement.", "Held for ecosystem health"),
    (
        130472,
        "User's number is part of an experiment",
        "Failed to send message because this user's phone number is part of an experiment",
    ),  # fmt: skip
    (131050, "Unable to deliver the marketing message", "The user has stopped marketing messages from you."),
]

# Meta holds marketing templates to US numbers: the send is accepted, then this failure arrives.
US_MARKETING_HELD = (
    131049,
    "This message was not delivered to maintain healthy ecosystem engagement.",
    "Marketing template messages are not delivered to WhatsApp users with a US (+1) phone number.",
)

TEMPLATES = [
    {"name": "hello_world", "language": "en_US", "category": "UTILITY", "status": "APPROVED",
     "quality_score": {"score": "GREEN"}, "id": "900000000000001",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                    {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability "
                     "to send a WhatsApp message notification from the Cloud API."},
                    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]},
    {"name": "spring_sale", "language": "en_US", "category": "MARKETING", "status": "APPROVED",
     "quality_score": {"score": "GREEN"}, "id": "900000000000002",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Spring sale, {{1}}!",
                     "example": {"header_text": ["Ana"]}},
                    {"type": "BODY", "text": "Hi {{1}}, everything in our {{2}} store is 20% off this week.",
                     "example": {"body_text": [["Ana", "Lisbon"]]}},
                    {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}]},
    {"name": "new_collection", "language": "en_US", "category": "MARKETING", "status": "APPROVED",
     "quality_score": {"score": "YELLOW"}, "id": "900000000000003",
     "components": [{"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://example.com/a.jpg"]}},
                    {"type": "BODY", "text": "{{1}}, our new collection is here.", "example": {"body_text": [["Ana"]]}},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}]},
    {"name": "order_update", "language": "pt_BR", "category": "UTILITY", "status": "APPROVED",
     "quality_score": {"score": "GREEN"}, "id": "900000000000004",
     "components": [{"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} foi enviado.",
                     "example": {"body_text": [["Ana", "A-1001"]]}}]},
    {"name": "winter_promo", "language": "en_US", "category": "MARKETING", "status": "PAUSED",
     "quality_score": {"score": "RED"}, "id": "900000000000005",
     "components": [{"type": "BODY", "text": "Winter deals for {{1}}.", "example": {"body_text": [["Ana"]]}}]},
    # A tracked link (the URL button's suffix is each recipient's token) and two quick replies.
    {"name": "spring_sale_link", "language": "en_US", "category": "MARKETING", "status": "APPROVED",
     "quality_score": {"score": "GREEN"}, "id": "900000000000006",
     "components": [{"type": "BODY", "text": "Hi {{1}}, our spring sale is on: 20% off everything this week.",
                     "example": {"body_text": [["Ana"]]}},
                    {"type": "BUTTONS", "buttons": [
                        {"type": "URL", "text": "Shop the sale", "url": "http://localhost:8000/r/{{1}}",
                         "example": ["http://localhost:8000/r/3xAmPlEtOkEn0001"]},
                        {"type": "QUICK_REPLY", "text": "Show me more"},
                        {"type": "QUICK_REPLY", "text": "Not now"}]}]},
]  # fmt: skip
# A phone's browser: what the tracked link counts as a person (whatsapp's own preview fetch is not counted).
PHONE_BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36"
OPT_OUT_BUTTONS = {"stop promotions"}  # the sandbox's taps never opt anyone out

E164_DIGITS = re.compile(r"^\+?\d{6,15}$")


def template_category(name: str) -> str:
    """The pricing category of a template the sandbox knows (lower case); unknown ones price as marketing."""
    known = next((t for t in TEMPLATES if t["name"] == name), None)
    return known["category"].lower() if known else "marketing"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def graph_error(code: int, message: str, details: str = "", *, type_: str = "OAuthException") -> dict:
    """An error body shaped like the Graph API's."""
    error = {"message": f"(#{code}) {message}", "type": type_, "code": code, "fbtrace_id": "A" + "x" * 22}
    error["error_data"] = {"messaging_product": "whatsapp", "details": details or message}
    return {"error": error}


class _Request:
    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body


class _HTTPMixin:
    """The HTTP side on an asyncio loop: a minimal HTTP/1.1 server, enough for JSON requests with a body length."""

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._stop.is_set():
                request = await _read_request(reader)
                if request is None:
                    return
                status, body, close = await self._respond(request)
                if status == 0:  # hung up without answering (a simulated timeout)
                    return
                raw = json.dumps(body).encode()
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nServer: WhatsAppSandbox/1.0\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
                    f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
                )
                writer.write(head.encode("latin-1") + raw)
                await writer.drain()
                if close or request.headers.get("connection", "").lower() == "close":
                    return
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return  # the client went away or sent something unreadable: nothing to tell it
        except asyncio.CancelledError:
            return  # the sandbox is stopping
        finally:
            writer.close()

    async def _respond(self, request: _Request) -> tuple[int, dict, bool]:
        """(HTTP status, body, close the connection after): the routes, after the simulated latency."""
        received = time.time()  # when the request reached the server: what a throughput limit counts
        if self.latency:
            await asyncio.sleep(self.latency)
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if not token or (self.access_token is not None and not hmac.compare_digest(token, self.access_token)):
            return 401, graph_error(190, "Invalid OAuth access token - Cannot parse access token"), False
        split = urlsplit(request.path)
        parts = split.path.strip("/").split("/")
        if request.method == "POST":
            if len(parts) != 3 or parts[2] != "messages" or parts[1] not in self.phone_number_ids:
                return 400, graph_error(100, "Unsupported post request", f"No such endpoint: {request.path}"), False
            try:
                payload = json.loads(request.body)
            except ValueError:
                payload = None
            if isinstance(payload, dict):
                payload["_sender"], payload["_received"] = parts[1], received
            status, body, hang = self.handle_send(payload)
            if hang:
                # Accepted and queued, but no answer before the client's read timeout: the unknown outcome.
                await asyncio.sleep(self.hang_seconds)
                return status, body, True
            return status, body, False
        if request.method == "GET" and len(parts) == 3 and parts[1] == self.waba_id and parts[2] == "message_templates":
            return 200, self.handle_templates(parse_qs(split.query)), False
        if request.method == "GET" and len(parts) == 2 and parts[1] in self.phone_number_ids:
            self.phone_number_reads.append(parts[1])
            return 200, self.handle_phone_number(parts[1], parse_qs(split.query)), False
        return (
            400,
            graph_error(100, f"Unsupported {request.method.lower()} request", f"No such endpoint: {request.path}"),
            False,
        )

    def _serve_http(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            server = loop.run_until_complete(asyncio.start_server(self._connection, sock=self._socket))
            self._served.set()
            loop.run_forever()
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            self._served.set()
            loop.close()


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


class SandboxServer(_HTTPMixin):
    """The Cloud API stand-in. Start on port 0 for a free port; `url` is what WHATSAPP_API_BASE_URL should be."""

    def __init__(
        self,
        *,
        webhook_url: str | None,
        app_secret: str,
        access_token: str | None = None,  # None: any bearer token is accepted (but one is required)
        api_version: str = "v23.0",
        phone_number_id: str = "100000000000001",
        other_phone_number_ids: tuple[str, ...] = (),  # more sender numbers of the same business account
        waba_id: str = "200000000000002",
        display_phone_number: str = "15550001111",
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        fail_rate: float = 0.0,
        rate_limit_mps: float | None = None,
        read_rate: float = 0.7,
        click_rate: float = 0.0,  # of read messages with a tracked link: the person taps it (GET link_base_url/r/..)
        reply_rate: float = 0.0,  # of read messages with quick replies: the person taps one (context.id = ours)
        link_base_url: str | None = None,  # where /r/<token> is served (the app); None: no link taps
        timeout_rate: float = 0.0,
        hang_seconds: float = 30.0,
        shuffle_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        status_delay_ms: float = 0,
        batch_max: int = 100,
        batch_wait_ms: float = 20,
        templates_page_size: int = 2,
        seed: int | None = None,
        messaging_tier: str = "TIER_250",
        quality_rating: str = "GREEN",
        hold_us_marketing: bool = False,
    ):
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.access_token = access_token
        self.api_version = api_version
        self.phone_number_id = phone_number_id
        self.phone_number_ids = {phone_number_id, *other_phone_number_ids}
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.latency = latency_ms / 1000
        self.fail_rate = fail_rate
        self.rate_limit_mps = rate_limit_mps
        self.read_rate = read_rate
        self.click_rate = click_rate
        self.reply_rate = reply_rate
        self.link_base_url = link_base_url.rstrip("/") if link_base_url else None
        # message id -> (to, link token or "", quick-reply texts): what a person could tap once they read it.
        self._tappable: dict[str, tuple[str, str, list[str]]] = {}
        self.taps: deque[tuple[str, str, int]] = deque(maxlen=100_000)  # (kind, message id, HTTP status or 0)
        self.timeout_rate = timeout_rate
        self.hang_seconds = hang_seconds
        self.shuffle_rate = shuffle_rate
        self.duplicate_rate = duplicate_rate
        self.status_delay = status_delay_ms / 1000
        self.batch_max = batch_max
        self.batch_wait = batch_wait_ms / 1000
        self.templates_page_size = templates_page_size
        # The account as Meta would report it: the portfolio's tier, the numbers' quality, each template's status
        # (a copy per sandbox, so a scene that pauses a template pauses it in this sandbox only).
        self.messaging_tier = messaging_tier
        self.quality_rating = quality_rating
        self.templates = copy.deepcopy(TEMPLATES)
        self.phone_number_reads: deque[str] = deque(maxlen=10_000)  # GET /<PHONE_NUMBER_ID> requests served
        # Meta does not deliver marketing templates to US (+1) numbers: accepted, then failed with 131049.
        self.hold_us_marketing = hold_us_marketing
        self._last_inbound: dict[str, float] = {}  # wa_id -> when it last wrote (its customer-service window)
        self.random = random.Random(seed)  # noqa: S311 (a simulation, not security)
        self._random_lock = threading.Lock()
        self._sequence = itertools.count()
        # What happened, bounded so a long demo run does not grow without end.
        self.accepted: deque[dict] = deque(maxlen=100_000)
        self.refused: deque[dict] = deque(maxlen=100_000)
        # (when it reached the server, before the simulated latency; the sender number; to)
        self.arrivals: deque[tuple[float, str, str]] = deque(maxlen=100_000)
        self.webhook_posts: deque[tuple[int, int]] = deque(maxlen=100_000)  # (HTTP status or 0, statuses in it)
        # The webhook queue: a heap of (due, sequence, status dict).
        self._queue: list[tuple[float, int, dict]] = []
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._rate_window: list[float] = []
        self._rate_lock = threading.Lock()
        # Bound now, so `url` is known before start(); served by the event loop thread.
        self._socket = socket.create_server((host, port), backlog=4096)
        self._address = self._socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._served = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------
    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    def start(self) -> SandboxServer:
        for target, name in ((self._serve_http, "sandbox-http"), (self._dispatch_forever, "sandbox-webhooks")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._served.wait(10)
        return self

    def serve_forever(self) -> None:
        """Run in the foreground (the management command) until interrupted."""
        self.start()
        try:
            while not self._stop.wait(3600):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self._loop.call_soon_threadsafe(self._loop.stop)
        for thread in self._threads:
            thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 10) -> bool:
        """Wait until every queued status has been posted (or given up on). True when idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # --- decisions (seeded) ---------------------------------------------------
    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._random_lock:
            return self.random.random() < rate

    def _choice(self, items):
        with self._random_lock:
            return self.random.choice(items)

    def new_message_id(self, to: str) -> str:
        with self._random_lock:
            noise = self.random.getrandbits(96).to_bytes(12, "big")
        raw = b"\x15\x02\x00\x11\x18\x12" + to.encode() + noise
        return "wamid." + base64.b64encode(raw).decode().rstrip("=")

    def _over_rate_limit(self) -> bool:
        if not self.rate_limit_mps:
            return False
        now = time.monotonic()
        with self._rate_lock:
            self._rate_window = [t for t in self._rate_window if now - t < 1.0]
            if len(self._rate_window) >= self.rate_limit_mps:
                return True
            self._rate_window.append(now)
            return False

    # --- the send endpoint ------------------------------------------------------
    def handle_send(self, payload) -> tuple[int, dict, bool]:
        """(HTTP status, body, hang): validates like Meta, then accepts and queues the statuses."""
        problem = validate_template_payload(payload)
        if problem:
            return 400, graph_error(100, "Invalid parameter", problem), False
        if self._over_rate_limit():
            return 429, graph_error(130429, "Rate limit hit", "Cloud API message throughput has been reached."), False
        refusal = self.template_refusal(payload["template"]["name"], payload["template"]["language"]["code"])
        if refusal:
            return 400, graph_error(*refusal), False
        to = payload["to"].lstrip("+")
        # --fail-rate: half refused at send time (HTTP error), half accepted then failed by webhook, like Meta.
        failing = self._chance(self.fail_rate)
        if failing and self._chance(0.5):
            status, code, title, details = self._choice(SYNC_ERRORS)
            self.refused.append({"to": to, "code": code})
            return status, graph_error(code, title, details), False
        message_id = self.new_message_id(to)
        tracker = payload.get("biz_opaque_callback_data")
        self.accepted.append(
            {"to": to, "template": payload["template"]["name"], "tracker": tracker, "message_id": message_id}
        )
        # When and from which of its numbers each accepted send arrived: per-second counts for rate limits.
        self.arrivals.append((payload.get("_received", time.time()), payload.get("_sender", self.phone_number_id), to))
        category = template_category(payload["template"]["name"])
        held = self.hold_us_marketing and category == "marketing" and to.startswith("1")
        pricing = self.pricing(to, category)
        self._remember_taps(message_id, to, payload)
        self._queue_statuses(message_id, to, tracker, fails_later=failing, held=held, pricing=pricing)
        body = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": to}],
            "messages": [{"id": message_id, "message_status": "accepted"}],
        }
        return 200, body, self._chance(self.timeout_rate)

    def _remember_taps(self, message_id: str, to: str, payload: dict) -> None:
        """What the message offers to tap: its URL button's suffix (our token) and the template's quick replies."""
        if not (self.click_rate or self.reply_rate):
            return
        template = next((t for t in self.templates if t["name"] == payload["template"]["name"]), {})
        buttons = next((c.get("buttons", []) for c in template.get("components", []) if c["type"] == "BUTTONS"), [])
        replies = [
            b["text"] for b in buttons if b["type"] == "QUICK_REPLY" and b["text"].lower() not in OPT_OUT_BUTTONS
        ]
        token = ""
        for component in payload["template"].get("components") or []:
            if component.get("type") == "button" and component.get("sub_type") == "url":
                token = str((component.get("parameters") or [{}])[0].get("text") or "")
        if token or replies:
            with self._random_lock:
                if len(self._tappable) > 100_000:
                    self._tappable.pop(next(iter(self._tappable)))
                self._tappable[message_id] = (to, token, replies)

    def _tap(self, statuses: list[dict]) -> None:
        """After the person read it: maybe tap the tracked link (a real GET), maybe a quick reply (a webhook)."""
        for item in statuses:
            if item.get("status") != "read":
                continue
            with self._random_lock:
                tappable = self._tappable.pop(item["id"], None)
            if tappable is None:
                continue
            to, token, replies = tappable
            if token and self.link_base_url and self._chance(self.click_rate):
                self.taps.append(("click", item["id"], self._open_link(token)))
                if self._chance(0.3):
                    self.taps.append(("click", item["id"], self._open_link(token)))  # tapped again later
            if replies and self._chance(self.reply_rate):
                self.taps.append(("reply", item["id"], self.post_button_reply(to, self._choice(replies), item["id"])))

    def _open_link(self, token: str) -> int:
        request = urllib.request.Request(  # noqa: S310 (the app's own tracked link)
            f"{self.link_base_url}/r/{token}", headers={"User-Agent": PHONE_BROWSER}
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code  # 302 lands here: the redirect is not followed (the shop is not ours)
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("sandbox: tracked link %s failed: %s", self.link_base_url, exc)
            return 0

    def post_button_reply(self, from_phone: str, text: str, context_id: str) -> int:
        """A quick-reply tap on our message `context_id`, as Meta posts it (type button, context.id)."""
        wa_id = from_phone.lstrip("+")
        message = {
            "context": {"from": self.display_phone_number, "id": context_id},
            "from": wa_id,
            "id": self.new_message_id(wa_id),
            "timestamp": str(int(time.time())),
            "type": "button",
            "button": {"payload": text, "text": text},
        }
        contacts = [{"profile": {"name": "Sandbox User"}, "wa_id": wa_id}]
        return self.post_value(self.value(contacts=contacts, messages=[message]))

    def pricing(self, to: str, category: str) -> dict:
        """Per-message pricing, as Meta puts it on the delivered status: free inside a customer-service window.

        A utility template to someone who wrote in the last 24 hours is
        `free_customer_service`; everything else delivered is `regular`
        (billable). `billable` is deprecated but still sent.
        """
        wrote = self._last_inbound.get(to)
        free = category == "utility" and wrote is not None and time.time() - wrote < 24 * 3600
        kind = "free_customer_service" if free else "regular"
        return {"billable": not free, "pricing_model": "PMP", "category": category, "type": kind}

    def _queue_statuses(
        self, message_id: str, to: str, tracker: str | None, *, fails_later: bool, held: bool = False,
        pricing: dict | None = None,
    ) -> None:  # fmt: skip
        base = int(time.time())

        def status(state: str, extra: dict | None = None) -> dict:
            item = {"id": message_id, "status": state, "timestamp": str(base), "recipient_id": to}
            if tracker:
                item["biz_opaque_callback_data"] = tracker
            if state in ("sent", "delivered"):
                item["conversation"] = {"id": hashlib.md5(to.encode()).hexdigest(), "origin": {"type": "marketing"}}  # noqa: S324
            if state == "delivered":  # per-message pricing: charged when delivered
                item["pricing"] = dict(pricing or self.pricing(to, "marketing"))
            item.update(extra or {})
            return item

        if held:
            code, title, details = US_MARKETING_HELD
            error = {"code": code, "title": title, "message": title, "error_data": {"details": details}}
            steps = [status("failed", {"errors": [error]})]
        elif fails_later:
            code, title, details = self._choice(WEBHOOK_ERRORS)
            error = {"code": code, "title": title, "message": title, "error_data": {"details": details}}
            steps = [status("failed", {"errors": [error]})]
        else:
            steps = [status("sent"), status("delivered")]
            if self._chance(self.read_rate):
                steps.append(status("read"))
        self.enqueue(steps)

    def enqueue(self, statuses: list[dict]) -> None:
        now = time.monotonic()
        with self._cond:
            for step, item in enumerate(statuses):
                heapq.heappush(self._queue, (now + step * self.status_delay, next(self._sequence), item))
            self._cond.notify_all()

    # --- the template list ------------------------------------------------------------
    def handle_templates(self, query: dict) -> dict:
        after = int((query.get("after") or ["0"])[0] or 0)
        limit = int((query.get("limit") or [self.templates_page_size])[0])
        limit = max(1, min(limit, self.templates_page_size))
        page = self.templates[after : after + limit]
        body: dict = {"data": page, "paging": {"cursors": {"before": str(after), "after": str(after + len(page))}}}
        if after + limit < len(self.templates):
            body["paging"]["next"] = (
                f"{self.url}/{self.api_version}/{self.waba_id}/message_templates?limit={limit}&after={after + limit}"
            )
        return body

    # --- webhooks back --------------------------------------------------------------------
    def value(self, **fields) -> dict:
        metadata = {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}
        return {"messaging_product": "whatsapp", "metadata": metadata, **fields}

    def post_value(self, value: dict, field: str = "messages") -> int:
        """Post one signed webhook carrying `value`; the HTTP status of the answer (0: no answer)."""
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "time": int(time.time()), "changes": [{"field": field, "value": value}]}],
        }
        return self._post(json.dumps(body, separators=(",", ":")).encode())

    def post_inbound_text(self, from_phone: str, text: str, *, name: str = "Sandbox User") -> int:
        wa_id = from_phone.lstrip("+")
        self._last_inbound[wa_id] = time.time()  # opens its customer-service window
        message = {
            "from": wa_id,
            "id": self.new_message_id(wa_id),
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        return self.post_value(self.value(contacts=[{"profile": {"name": name}, "wa_id": wa_id}], messages=[message]))

    # --- the account: tiers, template states, restrictions (docs/architecture.md, "Platform events") ---------
    def handle_phone_number(self, phone_number_id: str, query: dict) -> dict:
        """GET /<PHONE_NUMBER_ID>?fields=...: the fields asked for, as the Graph API answers them."""
        known = {
            "whatsapp_business_manager_messaging_limit": self.messaging_tier,
            "quality_rating": self.quality_rating,
            "display_phone_number": self.display_phone_number,
            "verified_name": "Sandbox Shop",
        }
        fields = [f.strip() for f in (query.get("fields") or [""])[0].split(",") if f.strip()] or list(known)
        return {"id": phone_number_id, **{name: known[name] for name in fields if name in known}}

    def template_refusal(self, name: str, language: str) -> tuple[int, str, str] | None:
        """Meta's refusal of a send with a template it paused or disabled (132015, 132016), else None."""
        for template in self.templates:
            if template["name"] == name and template["language"] == language:
                if template["status"] == "PAUSED":
                    return 132015, "Template is Paused", f"Template {name} is paused due to low quality."
                if template["status"] == "DISABLED":
                    return 132016, "Template is Disabled", f"Template {name} was disabled due to low quality."
        return None

    def post_template_status(
        self, name: str, language: str, event: str, *, reason: str = "NONE", title: str = "", description: str = ""
    ) -> int:
        """A `message_template_status_update`, after setting the template's status here (PAUSED refuses sends)."""
        template = next((t for t in self.templates if t["name"] == name and t["language"] == language), None)
        if template is not None:
            template["status"] = "APPROVED" if event in ("REINSTATED", "APPROVED") else event
        value = {
            "event": event,
            "message_template_id": int(template["id"]) if template else 0,
            "message_template_name": name,
            "message_template_language": language,
            "reason": reason,
            "message_template_category": template["category"] if template else "MARKETING",
        }
        if title or description:
            value["other_info"] = {"title": title, "description": description}
        return self.post_value(value, field="message_template_status_update")

    def scene_template_paused(self, name: str, language: str, *, second: bool = False) -> int:
        """Meta pauses a template mid-campaign for low quality (FIRST_PAUSE: 3 hours; SECOND_PAUSE: 6)."""
        title = "SECOND_PAUSE" if second else "FIRST_PAUSE"
        hours = 6 if second else 3
        return self.post_template_status(
            name, language, "PAUSED", reason="NONE", title=title,
            description=f"Your WhatsApp message template has been paused for {hours} hours due to low quality.",
        )  # fmt: skip

    def scene_template_unpaused(self, name: str, language: str) -> int:
        """The pause ends: Meta approves the template again (other_info.title UNPAUSE)."""
        return self.post_template_status(
            name, language, "APPROVED", title="UNPAUSE", description="Your template is active again."
        )

    def scene_tier_upgrade(self, tier: str = "TIER_2K") -> tuple[int, int]:
        """Meta raises the portfolio's limit: business_capability_update, then phone_number_quality_update (UPGRADE).

        The tier GET answers the new tier from now on. Returns both webhooks' HTTP statuses.
        """
        numbers = {"TIER_50": 50, "TIER_250": 250, "TIER_2K": 2000, "TIER_10K": 10000, "TIER_100K": 100000}
        old, self.messaging_tier = self.messaging_tier, tier
        capability = self.post_value(
            {"max_daily_conversations_per_business": numbers.get(tier, -1), "max_phone_numbers_per_business": 2,
             "max_phone_numbers_per_waba": 25},
            field="business_capability_update",
        )  # fmt: skip
        quality = self.post_value(
            {"display_phone_number": self.display_phone_number, "event": "UPGRADE", "old_limit": old,
             "current_limit": tier, "max_daily_conversations_per_business": tier},
            field="phone_number_quality_update",
        )  # fmt: skip
        return capability, quality

    def post_account_update(self, event: str, **details) -> int:
        """An `account_update` (ACCOUNT_RESTRICTION with restriction_info=[...], DISABLED_UPDATE with ban_info ...)."""
        return self.post_value({"event": event, **details}, field="account_update")

    def _post(self, raw: bytes) -> int:
        if not self.webhook_url:
            return 0
        request = urllib.request.Request(  # noqa: S310 (the operator's own webhook URL)
            self.webhook_url,
            data=raw,
            method="POST",
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, self.app_secret)},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("sandbox: webhook to %s failed: %s", self.webhook_url, exc)
            return 0

    def _take_batch(self) -> list[dict]:
        """Block until statuses are due, then give every due one (up to batch_max) after a short pile-up wait."""
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                if self._queue and self._queue[0][0] <= now:
                    break
                self._cond.wait(self._queue[0][0] - now if self._queue else None)
            else:
                return []
        if self.batch_wait:
            self._stop.wait(self.batch_wait)  # let statuses pile up, like Meta's batching
        with self._cond:
            batch = []
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now and len(batch) < self.batch_max:
                batch.append(heapq.heappop(self._queue)[2])
            self._in_flight += 1
        return batch

    def _dispatch_forever(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch and self._stop.is_set():
                return
            try:
                if self._chance(self.shuffle_rate):
                    with self._random_lock:
                        self.random.shuffle(batch)
                batch += [dict(item) for item in batch if self._chance(self.duplicate_rate)]
                if batch:
                    self._deliver(batch)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _deliver(self, batch: list[dict]) -> None:
        # Meta retries failed deliveries (for days); the sandbox a few times, backing off.
        for attempt in range(5):
            status = self.post_value(self.value(statuses=batch))
            self.webhook_posts.append((status, len(batch)))
            if status == 200:
                self._tap(batch)
            if status == 200 or not self.webhook_url or self._stop.wait(0.2 * 2**attempt):
                return


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def validate_template_payload(payload) -> str | None:
    """What is wrong with a template send body, in Meta's words, or None."""
    if not isinstance(payload, dict):
        return "The request body must be a JSON object."
    if payload.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'."
    to = payload.get("to")
    if not isinstance(to, str) or not E164_DIGITS.match(to):
        return "The parameter to is required and must be a phone number."
    if payload.get("type") != "template":
        return "Param type must be 'template' for this sandbox."
    template = payload.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("name"), str) or not template["name"]:
        return "Param template['name'] is required."
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        return "Param template['language']['code'] is required."
    components = template.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) and c.get("type") for c in components):
        return "Param template['components'] must be a list of components with a type."
    for component in components:
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) and p.get("type") for p in parameters):
            return f"Param template['components'][{component['type']}]['parameters'] must be a list with types."
    return None
