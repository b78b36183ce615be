"""docker-compose.yml, the Dockerfile, .dockerignore and .env.example, read statically (Docker does
not run here) and checked against the project: commands that exist, migrations first, a health check
the production settings answer, a TLS proxy that alone is trusted, and an image with the product only."""

from __future__ import annotations

import ast
import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import get_commands
from django.urls import resolve

from tests.fixtures import production
from tests.nodeless_saas import test_requirements
from workers.processes import BEAT, WATCHER, WEB, WORKER, federation_worker_flags, general_worker_flags

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
        elif command[0] not in ("redis-server", "caddy", "postgres"):
            raise AssertionError(f"unexpected command {command}")


def test_compose_runs_the_same_programs_as_make_demo() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    programs = {
        "web": WEB,
        "kube": WEB,
        "worker": WORKER,
        "federation": WORKER,
        "beat": BEAT,
        "watcher": WATCHER,
    }
    for service, expected in programs.items():
        command = services[service]["command"]
        assert [command[0].removeprefix(".venv/bin/"), *command[1 : len(expected)]] == expected


def test_the_federation_queues_go_to_a_worker_of_their_own_and_every_other_queue_to_the_worker(
    settings,
) -> None:
    """The federation worker takes the default settings' federation queues with the flags `make
    demo` gives it (one process, a thread per pass); the worker takes every other queue."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    federation_queues = settings.NODELESS_FEDERATION_QUEUES
    assert federation_queues == tuple(f"federation-{shard}" for shard in range(4))  # the default
    federation = services["federation"]["command"][len(WORKER) :]
    worker = services["worker"]["command"][len(WORKER) :]
    assert federation[: len(federation_worker_flags(federation_queues))] == federation_worker_flags(
        federation_queues
    )
    assert worker[: len(general_worker_flags(federation_queues))] == general_worker_flags(federation_queues)

    def consumed(flags: list[str]) -> set[str]:
        queues = set(settings.CELERY_TASK_QUEUES)
        if "--queues" in flags:
            queues = set(flags[flags.index("--queues") + 1].split(","))
        if "--exclude-queues" in flags:
            queues -= set(flags[flags.index("--exclude-queues") + 1].split(","))
        return queues

    assert consumed(federation) == set(federation_queues)
    assert consumed(worker) == set(settings.CELERY_TASK_QUEUES) - set(federation_queues)


# --- first boot: order, health, TLS, configuration, what the image holds ----------------------
APP_SERVICES = ("migrate", "web", "kube", "worker", "federation", "watcher", "beat")


def _production_settings(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    """Evaluate `expression` on the production settings a container with `env` would load."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(production._OURS)}
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'nodeless_saas.settings'; "
        f"from django.conf import settings; print(repr(({expression},)))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_app_service_waits_for_migrate_which_waits_for_the_database() -> None:
    services = production.compose_file()["services"]
    assert set(APP_SERVICES) <= set(services)
    migrate = services["migrate"]
    assert migrate["command"][1:3] == ["manage.py", "migrate"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in APP_SERVICES[1:]:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, (
            name
        )
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name


def test_every_app_service_starts_on_production_settings_from_env_example() -> None:
    variables = production.filled_env_example()
    environments = {name: production.service_environment(name, variables) for name in APP_SERVICES}
    web = environments["web"]
    assert all(env == web for env in environments.values())  # one configuration for the whole app
    result = _production_settings(
        web, "settings.NODELESS_ENV, settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.ALLOWED_HOSTS"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(("production", False, True, [variables["NODELESS_DOMAIN"]]))


def test_the_web_health_check_is_answered_under_production_settings() -> None:
    """It asks plain HTTP on 127.0.0.1 for its host: the path must be exempt from the HTTPS redirect
    and the host allowed (tests/nodeless_saas/test_production_server.py runs it for real)."""
    web = production.compose_file()["services"]["web"]
    code = web["healthcheck"]["test"][web["healthcheck"]["test"].index("-c") + 1]
    url = re.search(r"'(http://[^']+)'", code)
    assert url is not None and "os.environ['DJANGO_ALLOWED_HOSTS'].split(',')[0]" in code
    path = urlsplit(url.group(1)).path
    assert resolve(path).url_name == "healthz"
    env = production.service_environment("web", production.filled_env_example())
    result = _production_settings(env, "settings.SECURE_REDIRECT_EXEMPT, settings.ALLOWED_HOSTS")
    assert result.returncode == 0, result.stderr
    exempt, allowed = ast.literal_eval(result.stdout.strip())
    assert any(re.search(pattern, path.lstrip("/")) for pattern in exempt)
    assert env["DJANGO_ALLOWED_HOSTS"].split(",")[0] in allowed
    port = web["command"][web["command"].index("--bind") + 1].rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}/" in url.group(1)


def test_a_tls_proxy_fronts_web_and_is_the_only_trusted_proxy() -> None:
    compose = production.compose_file()
    services = compose["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:") and "443:443" in proxy["ports"]
    assert not any("ports" in services[name] for name in APP_SERVICES)  # web only behind the proxy
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in proxy["volumes"]}
    caddyfile = (ROOT / mounted["/etc/caddy/Caddyfile"]).read_text()
    assert proxy["command"][proxy["command"].index("--config") + 1] == "/etc/caddy/Caddyfile"
    web_port = services["web"]["command"][services["web"]["command"].index("--bind") + 1].rsplit(":", 1)[1]
    assert re.search(rf"^\s*reverse_proxy web:{web_port}$", caddyfile, re.MULTILINE)
    # The Kubernetes endpoint to kube's threads (a watch lasts minutes), unencoded; the rest to web.
    kube_port = services["kube"]["command"][services["kube"]["command"].index("--bind") + 1].rsplit(":", 1)[1]
    routed = re.search(r"handle /k8s/\* \{([^}]*)\}", caddyfile)
    assert routed is not None and routed.group(1).split() == ["reverse_proxy", f"kube:{kube_port}"]
    assert services["kube"]["command"][services["kube"]["command"].index("--threads") + 1] == "64"
    assert re.search(r"^\{\$NODELESS_DOMAIN\} \{$", caddyfile, re.MULTILINE)  # the host web allows
    assert proxy["environment"]["NODELESS_DOMAIN"].startswith("${NODELESS_DOMAIN")
    # The proxy has a fixed address out of the range the others are given, and it alone is trusted.
    address = ipaddress.ip_address(proxy["networks"]["default"]["ipv4_address"])
    (pool,) = compose["networks"]["default"]["ipam"]["config"]
    assert address in ipaddress.ip_network(pool["subnet"]) and address not in ipaddress.ip_network(
        pool["ip_range"]
    )
    env = production.service_environment("web", production.filled_env_example())
    result = _production_settings(env, "settings.NODELESS_TRUSTED_PROXIES")
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout.strip()) == ([f"{address}/32"],)
    # gunicorn believes no forwarding header itself: Django decides (nodeless_saas/proxies.py).
    for command in (services["web"]["command"], services["kube"]["command"], _dockerfile_cmd()):
        assert command[command.index("--forwarded-allow-ips") + 1] == ""


def test_env_example_lists_every_variable_compose_needs_and_the_required_ones_are_enforced() -> None:
    example = production.env_example()
    assert production.compose_variables() <= set(example)
    filled = production.filled_env_example()
    for name in production.required_in_env_example():
        assert example[name] == "" or name == "NODELESS_DOMAIN", f"{name}: a secret must not have an example"
        emptied = {**filled, name: ""}
        if name in production.compose_variables():
            with pytest.raises(LookupError, match=name):
                production.service_environment("web", emptied)
        else:
            result = _production_settings(production.service_environment("web", emptied), "settings.DEBUG")
            assert result.returncode != 0 and name in result.stderr, name


def test_the_filled_in_env_file_stays_out_of_git_and_the_image() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert _ignored(".env") and not _ignored("nodeless_saas/env.py")


def _dockerfile_cmd() -> list[str]:
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd is not None
    return list(yaml.safe_load(cmd.group(1)))


def test_the_image_runs_web_s_command() -> None:
    # What the image installs is checked in test_requirements.py.
    assert _dockerfile_cmd() == production.compose_file()["services"]["web"]["command"]


def _dockerignore_regexes() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore's rules as (negated, regex) in order; Docker's matching: `**` spans folders,
    `*` stays within one, a rule on a folder covers what is inside, the last matching rule wins."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated, pattern = line.startswith("!"), line.lstrip("!").strip("/")
        regex = (
            re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        )
        rules.append((negated, re.compile(rf"^{regex}(?:/.*)?$")))
    return rules


def _ignored(path: str) -> bool:
    ignored = False
    for negated, regex in _dockerignore_regexes():
        if regex.match(path):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_secrets_and_the_development_side_out_of_the_image() -> None:
    kept_out = [
        ".venv/bin/python",
        "var/secret_key",
        "var/nodeless.sqlite3",
        ".git/HEAD",
        ".env",
        ".env.production",
        "staticfiles/app.css",
        "nodeless_saas/__pycache__/settings.cpython-311.pyc",
        ".pytest_cache/v/cache",
        "test-results/trace.zip",
        ".coverage",
        "tests/conftest.py",
        "simulator/__init__.py",
        "lab/apps.py",
        "bench/load.py",
        "requirements-dev.txt",
    ]
    assert [path for path in kept_out if not _ignored(path)] == []
    let_in = ["manage.py", "requirements.txt", "nodeless_saas/settings.py", "templates/base.html", "static"]
    product = [*let_in, *(f"{package}/__init__.py" for package in test_requirements.PRODUCT_PACKAGES)]
    assert [path for path in product if _ignored(path)] == []
