#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11+ (standard library only).

    python3 dev.py run [--port 8000] [--sandbox-port 8025]
                             # venv, install, migrate, demo data; web + worker + beat + WhatsApp sandbox
    python3 dev.py manage <command> [arguments]
                             # a manage.py command in the venv, with the demo's settings (as `run` uses)
    python3 dev.py test      # venv, install, the whole test suite (extra arguments go to pytest)
    python3 dev.py setup     # venv and install only (CI uses it)

The virtual environment lives in .venv/ and is reinstalled only when a
requirements file changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
REQUIREMENTS = ROOT / "requirements-dev.txt"
# Written by a running `run`: the sandbox port, so `manage` talks to that sandbox.
RUNNING = ROOT / "var" / "dev-run.json"

WEB_PORT = 8000
SANDBOX_PORT = 8025
DEMO_LOGIN = ("admin", "admin")


def demo_environment(sandbox_port: int = SANDBOX_PORT) -> dict[str, str]:
    """The embedded demo: DEBUG (a throw-away secret key), real HTTP to the local WhatsApp sandbox.

    Anything already in the environment wins over these.
    """
    return {
        "DEBUG": "true",
        "WHATSAPP_BACKEND": "whatsapp.backends.cloud.CloudAPIBackend",
        "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "200000000000002",
        "WHATSAPP_ACCESS_TOKEN": "sandbox-access-token",
        "WHATSAPP_APP_SECRET": "sandbox-app-secret",
        "WHATSAPP_VERIFY_TOKEN": "sandbox-verify-token",
        "WHATSAPP_READ_TIMEOUT": "5",
    }


def log(message: str) -> None:
    # stderr: `dev.py manage <command> --json` leaves stdout to the command's JSON.
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def port_taken(port: int) -> bool:
    """Whether binding 127.0.0.1:`port` fails, as the server about to bind it would (SO_REUSEADDR, like them)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def refuse_taken_ports(ports: dict[str, int]) -> None:
    """Stop before anything starts when a port `run` needs is taken, naming it and the option that moves it."""
    for option, port in ports.items():
        if port_taken(port):
            free = next((p for p in range(port + 1, port + 100) if p not in ports.values() and not port_taken(p)), None)
            hint = f"e.g. python3 dev.py run {option} {free}" if free else f"python3 dev.py run {option} N"
            sys.exit(
                f"[dev] port {port} on 127.0.0.1 is already in use (another dev.py run, or another server); "
                f"nothing was started. Stop what uses it, or choose another port with {option} ({hint})."
            )


def ensure_venv() -> None:
    """Create .venv and install the pinned requirements when they changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py is what tells an old Python so)
        sys.exit(f"Python 3.11+ is needed; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        log(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256()
    for name in ("requirements.txt", "requirements-dev.txt"):
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / ".requirements.sha256"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    log("installing pinned requirements (first run takes a minute)")
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(digest.hexdigest())


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_for_port(port: int, child: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{name} exited with code {child.returncode} before listening on 127.0.0.1:{port}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    if args.port == args.sandbox_port:
        sys.exit(f"[dev] --port and --sandbox-port are both {args.port}: choose two different ports.")
    refuse_taken_ports({"--port": args.port, "--sandbox-port": args.sandbox_port})
    ensure_venv()
    env = {**demo_environment(args.sandbox_port), **os.environ, "PYTHONUNBUFFERED": "1"}
    manage("migrate", "--noinput", env=env)
    (ROOT / "var").mkdir(exist_ok=True)

    celery = [str(PYTHON), "-m", "celery", "-A", "config"]
    # Web and sandbox first: the demo data syncs templates from the sandbox, and
    # the sandbox posts its status webhooks to the web server.
    servers = {
        "web": [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
        "sandbox": [
            str(PYTHON),
            "manage.py",
            "whatsapp_sandbox",
            "--port",
            str(args.sandbox_port),
            "--webhook-url",
            f"http://127.0.0.1:{args.port}/whatsapp/webhook/",
        ],
    }
    workers = {
        # Threads work on every OS (prefork does not on Windows) and suit an I/O-bound sender.
        "worker": [*celery, "worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", str(ROOT / "var" / "celerybeat-schedule")],
    }
    children = {name: subprocess.Popen(command, cwd=ROOT, env=env) for name, command in servers.items()}
    RUNNING.write_text(json.dumps({"port": args.port, "sandbox_port": args.sandbox_port}))
    try:
        for name, port in (("web", args.port), ("sandbox", args.sandbox_port)):
            wait_for_port(port, children[name], name)
        manage("demo_data", "--username", DEMO_LOGIN[0], "--password", DEMO_LOGIN[1], env=env)
        children.update({name: subprocess.Popen(command, cwd=ROOT, env=env) for name, command in workers.items()})
        log(f"started {', '.join(children)}")
        log(f"admin: http://127.0.0.1:{args.port}/admin/   login: {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}")
        log("stop with Ctrl-C")
        return supervise(children)
    finally:
        RUNNING.unlink(missing_ok=True)
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait for Ctrl-C (or SIGTERM); if any process dies, stop them all."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                log(f"{name} exited with code {child.returncode}; stopping the others")
                return 1
        time.sleep(0.5)
    return 0


def manage_command(arguments: list[str]) -> int:
    """`python3 dev.py manage <command> ...`: manage.py in the venv with the demo's settings.

    manage.py alone needs a configured environment (SECRET_KEY, or DEBUG=true):
    production must never fall back to a development key. This is the local
    equivalent, with what `run` uses (DEBUG, the SQLite file, the sandbox of
    the running `run`, else 127.0.0.1:8025); anything set in the environment wins.
    """
    ensure_venv()
    try:
        sandbox_port = int(json.loads(RUNNING.read_text())["sandbox_port"])
    except (OSError, ValueError, KeyError, TypeError):
        sandbox_port = SANDBOX_PORT
    env = {**demo_environment(sandbox_port), **os.environ}
    return subprocess.run([str(PYTHON), "manage.py", *arguments], cwd=ROOT, env=env).returncode


def test(pytest_args: list[str]) -> int:
    ensure_venv()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser:
        log(f"browser tests run with {browser}")
    else:
        log("no Chromium found: the browser (e2e) tests will be skipped; install Debian's 'chromium' to run them")
    return subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT).returncode


def main() -> int:
    if sys.argv[1:2] == ["manage"]:
        # Everything after "manage" is manage.py's, --help included (alone, it lists the commands).
        return manage_command(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the product with demo data")
    run_parser.add_argument("--port", type=int, default=WEB_PORT, help=f"the admin's port (default {WEB_PORT})")
    run_parser.add_argument(
        "--sandbox-port", type=int, default=SANDBOX_PORT, help=f"the WhatsApp sandbox's port (default {SANDBOX_PORT})"
    )
    commands.add_parser(
        "manage", help="run a manage.py command with the demo's settings, e.g. python3 dev.py manage send_batch --help"
    )
    commands.add_parser("test", help="run the whole test suite (extra arguments go to pytest)")
    commands.add_parser("setup", help="create the virtual environment and install")
    args, rest = parser.parse_known_args()
    if args.command == "run":
        return run(args)
    if args.command == "test":
        return test(rest)
    ensure_venv()
    return 0


if __name__ == "__main__":
    sys.exit(main())
