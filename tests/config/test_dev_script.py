"""dev.py run refuses a taken port at once, naming it and the option that moves it, and starts nothing."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dev_run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # Should the refusal ever break, what starts uses a throw-away database and is killed by the timeout.
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "dev.py", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20
    )


@pytest.mark.parametrize("option", ["--port", "--sandbox-port"])
def test_a_taken_port_is_refused_before_anything_starts(option, taken_port, tmp_path):
    ports = {"--port": free_port(), "--sandbox-port": free_port(), option: taken_port}
    result = dev_run("--port", str(ports["--port"]), "--sandbox-port", str(ports["--sandbox-port"]), tmp_path=tmp_path)

    assert result.returncode != 0
    assert f"port {taken_port} " in result.stderr and option in result.stderr
    assert "nothing was started" in result.stderr
    assert "started" not in result.stdout and not (tmp_path / "db.sqlite3").exists()


def test_the_two_ports_must_differ(tmp_path):
    port = str(free_port())
    result = dev_run("--port", port, "--sandbox-port", port, tmp_path=tmp_path)
    assert result.returncode != 0 and "--sandbox-port" in result.stderr
