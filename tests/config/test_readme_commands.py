"""README's commands run as written: each manage command it shows answers --help from a plain shell.

The commands are read from README's ```sh blocks, so a command added there,
or a prefix that needs an environment a fresh clone does not have (plain
`python manage.py` needs SECRET_KEY or DEBUG), fails here. "python" and
"python3" are this interpreter; the environment is stripped of every setting
a developer's shell would not have.
"""

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "LOG_STREAM")


def readme_commands() -> list[list[str]]:
    """Every shell command in README's sh blocks, continuation lines joined, comments and [optional] parts dropped."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$|^#.*$", "", line)
            line = re.sub(r"\[[^\]]*\]", "", line).strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def manage_prefix(words: list[str]) -> list[str] | None:
    """The words up to the manage command's name (`python3 dev.py manage send_batch`), or None."""
    for i, word in enumerate(words[:-1]):
        if word == "manage.py" or (word == "manage" and i and words[i - 1] == "dev.py"):
            return words[: i + 2]
    return None


def clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in SETTINGS}


def run(words: list[str]) -> subprocess.CompletedProcess:
    argv = [sys.executable if words[0] in ("python", "python3") else words[0], *words[1:]]
    return subprocess.run(argv, cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)


def test_readme_shows_its_manage_commands():
    names = {prefix[-1] for words in readme_commands() if (prefix := manage_prefix(words))}
    assert {"send_batch", "import_contacts", "create_campaign", "whatsapp_sandbox", "campaign_stats"} <= names


def test_every_manage_command_in_the_readme_answers_help_as_written():
    prefixes = {tuple(prefix) for words in readme_commands() if (prefix := manage_prefix(words))}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(prefixes, pool.map(lambda prefix: run([*prefix, "--help"]), prefixes), strict=True))
    failures = {
        " ".join(prefix): result.stderr[-500:]
        for prefix, result in results.items()
        if result.returncode != 0 or "usage:" not in result.stdout
    }
    assert failures == {}


def test_dev_py_commands_and_options_in_the_readme_exist():
    dev_commands = [words[2:] for words in readme_commands() if words[:2] == ["python3", "dev.py"]]
    assert dev_commands, "README shows no dev.py command"
    for words in dev_commands:
        if words[0] == "manage":
            continue
        result = run(["python3", "dev.py", words[0], "--help"])
        assert result.returncode == 0, (words, result.stderr)
        for option in (word for word in words[1:] if word.startswith("--")):
            assert option in result.stdout, f"dev.py {words[0]} has no {option}"


def test_plain_manage_py_still_refuses_to_start_without_a_secret_key():
    """The production guard stays: only DEBUG (which dev.py manage sets) runs with a development key."""
    result = run(["python", "manage.py", "send_batch", "--help"])
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
