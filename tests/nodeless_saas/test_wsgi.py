"""The WSGI entry point gunicorn imports in every worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_loads_every_view_when_it_starts_not_on_its_first_request(tmp_path) -> None:
    """Django imports the URLconf (every view module) on the first request: over a second of CPU
    that one user's request would wait for after each deploy or worker restart."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "NODELESS_", "REDIS_"))
    }
    clean.update(NODELESS_VAR_DIR=str(tmp_path), NODELESS_ENV="development")
    code = (
        "import sys; import nodeless_saas.wsgi; "
        "print(all(m in sys.modules for m in ('nodeless_saas.urls', 'policies.kubeapi.views', 'clusters.api.views')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
