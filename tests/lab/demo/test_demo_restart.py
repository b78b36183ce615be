"""Restarting the demo over an old `var/`: what the last run left in the embedded broker is dropped,
so the new run does not spend its first minutes on launches for a simulated cloud that is gone."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from lab.management.commands.demo import discard_queued_tasks


def _embedded_app(folder: Path) -> Celery:
    """The demo's broker: the file-system transport over a folder, as settings configure it."""
    for sub in ("queue", "processed"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    app = Celery("restart-test", broker="filesystem://localhost//", set_as_current=False)
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }
    return app


def test_a_restarted_demo_starts_with_no_task_of_the_last_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL")  # Celery lets it override the app's own broker
    last_run = _embedded_app(tmp_path)
    for row in ("a", "b", "c"):
        last_run.send_task("workers.tasks.provisioning_launch", args=(row,))
    assert len(list((tmp_path / "queue").iterdir())) == 3
    assert discard_queued_tasks(_embedded_app(tmp_path)) == 3
    assert list((tmp_path / "queue").iterdir()) == []
    assert discard_queued_tasks(_embedded_app(tmp_path)) == 0
