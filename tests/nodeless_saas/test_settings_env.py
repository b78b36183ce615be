"""Settings come from the environment and refuse bad values loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from nodeless_saas import env

ROOT = Path(__file__).resolve().parents[2]


def test_boolean_helper_accepts_common_spellings_and_refuses_the_rest(monkeypatch) -> None:
    for raw, expected in [("true", True), ("1", True), ("off", False), ("No", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env.env_bool("X_FLAG", default=not expected) is expected
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env.env_bool("X_FLAG", default=False)


def test_integer_helper_checks_type_and_bounds(monkeypatch) -> None:
    monkeypatch.setenv("X_INT", "12")
    assert env.env_int("X_INT", 1, maximum=20) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "99")
    with pytest.raises(ImproperlyConfigured, match="above the maximum"):
        env.env_int("X_INT", 1, maximum=20)


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET", "also")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.env_secret("X_SECRET")


def test_database_url_is_parsed_and_bad_ones_are_explained() -> None:
    parsed = env.database_from_url("postgres://app:p%40ss@db.internal:6543/nodeless")
    assert (parsed["USER"], parsed["PASSWORD"], parsed["HOST"], parsed["PORT"], parsed["NAME"]) == (
        "app",
        "p@ss",
        "db.internal",
        "6543",
        "nodeless",
    )
    with pytest.raises(ImproperlyConfigured, match="scheme 'mysql'"):
        env.database_from_url("mysql://x@y/z")
    with pytest.raises(ImproperlyConfigured, match="no database name"):
        env.database_from_url("postgres://x@y:5432/")


def _settings_in_subprocess(extra_env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "NODELESS_", "REDIS_"))
    }
    clean.update(extra_env)
    code = f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='nodeless_saas.settings'; from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_production_is_the_default_and_refuses_to_start_without_a_secret_key(tmp_path) -> None:
    result = _settings_in_subprocess({"NODELESS_VAR_DIR": str(tmp_path)}, "settings.DEBUG")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_turns_on_secure_cookies_hsts_and_keeps_debug_off(tmp_path) -> None:
    result = _settings_in_subprocess(
        {
            "NODELESS_VAR_DIR": str(tmp_path),
            "DJANGO_SECRET_KEY": "x" * 50,
            "NODELESS_ENCRYPTION_KEYS": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
            "DJANGO_ALLOWED_HOSTS": "nodeless.example",
        },
        "settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS, settings.SECURE_SSL_REDIRECT",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "31536000", "True"]


def test_debug_is_refused_in_production(tmp_path) -> None:
    result = _settings_in_subprocess(
        {"NODELESS_VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_DEBUG": "true"},
        "settings.DEBUG",
    )
    assert result.returncode != 0 and "DJANGO_DEBUG=true is refused" in result.stderr


def test_with_no_services_configured_the_product_runs_embedded(tmp_path) -> None:
    result = _settings_in_subprocess(
        {"NODELESS_VAR_DIR": str(tmp_path), "NODELESS_ENV": "development"},
        "settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL",
    )
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout and "filesystem://" in result.stdout


def test_the_test_suite_itself_runs_on_postgresql_and_redis(settings) -> None:
    from django.db import connection

    assert settings.DATABASES["default"]["ENGINE"] == "nodeless_saas.postgresql"
    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")


def test_the_metering_interval_sets_metering_s_beat_and_must_divide_a_minute(tmp_path) -> None:
    base = {"NODELESS_VAR_DIR": str(tmp_path), "NODELESS_ENV": "development"}
    expression = "settings.NODELESS_METERING_SECONDS, settings.CELERY_BEAT_SCHEDULE['metering']['schedule']"
    default = _settings_in_subprocess(base, expression)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == ["60", "60.0"]  # production's ledger: one minute
    demo = _settings_in_subprocess({**base, "NODELESS_METERING_SECONDS": "10"}, expression)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.split() == ["10", "10.0"]
    odd = _settings_in_subprocess({**base, "NODELESS_METERING_SECONDS": "7"}, expression)
    assert odd.returncode != 0 and "does not divide 60" in odd.stderr


def test_the_api_token_rate_must_read_as_a_rate(tmp_path) -> None:
    base = {"NODELESS_VAR_DIR": str(tmp_path), "NODELESS_ENV": "development"}
    assert (
        "50/s"
        in _settings_in_subprocess(
            {**base, "NODELESS_API_TOKEN_RATE": "50/s"}, "settings.NODELESS_API_TOKEN_RATE"
        ).stdout
    )
    refused = _settings_in_subprocess({**base, "NODELESS_API_TOKEN_RATE": "fast"}, "settings.DEBUG")
    assert refused.returncode != 0 and "write it as e.g. 1200/min" in refused.stderr
