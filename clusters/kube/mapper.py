"""Which path serves a kind on one cluster: client-go's RESTMapper, over discovery, cached.

The built-in kinds the product uses (``api.KINDS``) need no look-up, as client-go's typed clients
need none. Any other (apiVersion, kind) — a custom resource — is found in the cluster's discovery
document for that group/version (``/apis/<group>/<version>``), read once and kept: a kind found
stays found for ``FOUND_SECONDS``; a kind the cluster does not serve is asked about again only
after ``MISSING_SECONDS`` (as a RESTMapper resets on a no-match), so a CRD installed meanwhile is
picked up within a pass or two, and a fleet without it costs one call per member and interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from clusters.kube.kinds import KINDS, Kind

FOUND_SECONDS = 300.0
MISSING_SECONDS = 10.0
Json = dict[str, Any]


class KindNotServed(Exception):
    """The cluster serves no such kind (for a custom resource: its CRD is not installed there)."""


class KindMapper:
    def __init__(
        self, read: Callable[[str], Json | None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.read = read  # GET a discovery path; None when the cluster answers 404
        self.clock = clock
        self._lock = threading.Lock()
        self._group_versions: dict[str, tuple[float, dict[str, Kind]]] = {}

    def _discover(self, api_version: str) -> dict[str, Kind]:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        document = self.read(path) or {}
        kinds = {
            str(entry["kind"]): Kind(api_version, str(entry["name"]), bool(entry.get("namespaced")))
            for entry in document.get("resources") or []
            if "/" not in str(entry.get("name"))  # subresources
        }
        with self._lock:
            self._group_versions[api_version] = (self.clock(), kinds)
        return kinds

    def kind(self, api_version: str, kind: str) -> Kind:
        """Where ``kind`` of ``api_version`` lives here; KindNotServed when nowhere."""
        builtin = KINDS.get(kind)
        if builtin is not None and builtin.api_version == api_version:
            return builtin
        with self._lock:
            cached = self._group_versions.get(api_version)
        now = self.clock()
        if cached is None:
            kinds = self._discover(api_version)
        else:
            age = now - cached[0]
            stale = age > FOUND_SECONDS or (kind not in cached[1] and age > MISSING_SECONDS)
            kinds = self._discover(api_version) if stale else cached[1]
        found = kinds.get(kind)
        if found is None:
            raise KindNotServed(
                f"the cluster serves no {kind} in {api_version}"
                + (": its CustomResourceDefinition is not installed there" if "." in api_version else "")
            )
        return found
