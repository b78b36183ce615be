"""The long-running processes of the product, in one place.

`make demo` runs them from here, and a test checks docker-compose.yml starts the same programs
with the same application arguments, so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

# program, then the arguments that pick the application; deployment-specific flags come after.
WEB = ["gunicorn", "nodeless_saas.wsgi"]
WORKER = ["celery", "-A", "nodeless_saas", "worker"]
BEAT = ["celery", "-A", "nodeless_saas", "beat"]


def demo_commands(bin_dir: Path, bind: str) -> dict[str, list[str]]:
    def local(command: list[str]) -> list[str]:
        return [str(bin_dir / command[0]), *command[1:]]

    return {
        "web": [*local(WEB), "--bind", bind, "--workers", "2", "--threads", "4", "--log-level", "warning"],
        "worker": [*local(WORKER), "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [*local(BEAT), "--loglevel", "INFO"],
    }
