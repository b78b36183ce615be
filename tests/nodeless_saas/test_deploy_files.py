"""docker-compose.yml and the Dockerfile only name commands that exist in this project."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.core.management import get_commands

from workers.processes import BEAT, WATCHER, WEB, WORKER

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def _commands() -> list[list[str]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found = [
        service["command"]
        for service in compose["services"].values()
        if isinstance(service.get("command"), list)
    ]
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd is not None
    found.append(yaml.safe_load(cmd.group(1)))
    return found


def test_compose_has_the_whole_stack() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_every_command_in_compose_and_the_dockerfile_exists() -> None:
    django_commands = get_commands()
    for command in _commands():
        if command[0].startswith(".venv/bin/"):
            executable = VENV_BIN / command[0].removeprefix(".venv/bin/")
            assert executable.exists(), f"{command[0]} is not installed by `make install`"
            if executable.name == "python" and command[1] == "manage.py":
                assert command[2] in django_commands, f"no management command {command[2]!r}"
            if executable.name in ("gunicorn",):
                module = command[1].split(":")[0]
                assert (ROOT / (module.replace(".", "/") + ".py")).exists(), f"no WSGI module {module}"
            if executable.name == "celery":
                app = command[command.index("-A") + 1]
                assert (ROOT / app / "celery.py").exists(), f"no Celery app {app}"
        elif command[0] not in ("redis-server",):
            raise AssertionError(f"unexpected command {command}")


def test_compose_runs_the_same_programs_as_make_demo() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for service, expected in {"web": WEB, "worker": WORKER, "beat": BEAT, "watcher": WATCHER}.items():
        command = services[service]["command"]
        assert [command[0].removeprefix(".venv/bin/"), *command[1 : len(expected)]] == expected
