"""The embedded default's broker publishes a message only once it is whole: a worker polling the
queue folder never takes a half-written file (kombu's own transport let it, and the worker died on
an empty message)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from kombu.connection import Connection
from kombu.transport.virtual import Empty

from nodeless_saas.file_broker import Channel, Transport


def _connection(root: Path, transport: type = Transport) -> Connection:
    for folder in ("queue", "processed", "control"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return Connection(
        "filesystem://localhost//",
        transport=transport,
        transport_options={
            "data_folder_in": str(root / "queue"),
            "data_folder_out": str(root / "queue"),
            "processed_folder": str(root / "processed"),
            "control_folder": str(root / "control"),
            "store_processed": False,
        },
    )


def test_a_message_enters_the_queue_folder_only_when_complete(tmp_path) -> None:
    seen_while_writing: list[list[str]] = []

    class Watched(Channel):
        def _stage(self, name: str, data: bytes) -> Path:
            staged = super()._stage(name, data)
            seen_while_writing.append(sorted(p.name for p in (tmp_path / "queue").iterdir()))
            return staged

    class WatchedTransport(Transport):
        Channel = Watched

    with _connection(tmp_path, WatchedTransport) as connection:
        channel = connection.default_channel
        channel._put("jobs", {"task": "one", "body": "x" * 10_000})
        assert seen_while_writing == [[]], "the message was visible before it was complete"
        [message] = list((tmp_path / "queue").iterdir())
        assert json.loads(message.read_bytes())["task"] == "one"
        assert channel._get("jobs")["body"] == "x" * 10_000


def test_a_reader_polling_while_messages_are_written_gets_each_one_whole(tmp_path) -> None:
    count = 300
    received: list[Any] = []
    with _connection(tmp_path) as writer_connection, _connection(tmp_path) as reader_connection:
        writer, reader = writer_connection.default_channel, reader_connection.default_channel

        def write() -> None:
            for index in range(count):
                writer._put("jobs", {"index": index, "body": "y" * 4_000})

        thread = threading.Thread(target=write)
        thread.start()
        while len(received) < count:
            try:
                received.append(reader._get("jobs"))
            except Empty:
                if not thread.is_alive() and not any((tmp_path / "queue").iterdir()):
                    break
        thread.join()
    assert sorted(message["index"] for message in received) == list(range(count))
