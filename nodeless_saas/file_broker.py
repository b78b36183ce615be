"""The embedded default's broker: kombu's file-system transport, with messages published atomically.

kombu writes a message by opening its final file name in the queue folder and then writing to it;
a worker polling the folder can take the file in between (it renames it away and reads it) and
get an empty message, which stops the worker with a JSON error. Here a message is written in a
staging folder next to the queue and renamed into it once complete: a rename within one file
system is atomic, so a reader sees the whole message or nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _stage(self, name: str, data: bytes) -> Path:
        """Write the message where no reader looks; its path, for the rename."""
        staging = Path(self.data_folder_out).parent / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        staged = staging / name
        staged.write_bytes(data)
        return staged

    # kombu's two base classes disagree on this signature; this is the file-system channel's.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        staged = self._stage(name, dumps(payload).encode())  # type: ignore[no-untyped-call]
        staged.replace(Path(self.data_folder_out) / name)


class Transport(filesystem.Transport):
    Channel = Channel
