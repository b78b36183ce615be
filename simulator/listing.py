"""Which revision a list or watch reads: `resourceVersion`, `resourceVersionMatch`, `continue`.

As kube-apiserver decides it (https://kubernetes.io/docs/reference/using-api/api-concepts/
#semantics-for-get-and-list, and apimachinery's `ValidateListOptions`):

- no `resourceVersion`: the most recent state;
- `resourceVersion=0`: any state (the simulator's store is always current, so the latest);
- `resourceVersion=N` (or `resourceVersionMatch=NotOlderThan`): at least as new as N; a revision the
  server has not reached is 504 `Timeout` with cause `ResourceVersionTooLarge`;
- `resourceVersionMatch=Exact`: exactly revision N, 410 `Expired` once compacted;
- `continue`: the next page of the snapshot the first page read (same `resourceVersion`); once
  compacted, 410 `Expired` whose Status carries a fresh continue token to go on at the latest
  revision (inconsistently), as etcd3's `handleCompactedErrorForPaging` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.api_support import LATEST_REVISION, PageResult, decode_continue, encode_continue
from simulator.errors import bad_request, gone, invalid, too_large_resource_version
from simulator.resources import ResourceType
from simulator.selectors import FieldSelector, Selector
from simulator.store import ObjectStore

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"
EXPIRED_LIST = "The resourceVersion for the provided list is too old."
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
    "objects that were created, modified, or deleted between the time the first chunk was returned and "
    "now may show up in the list."
)


@dataclass(frozen=True)
class ListOptions:
    resource_version: str = ""
    match: str = ""
    continue_token: str = ""
    limit: int = 0
    send_initial_events: bool | None = None

    @classmethod
    def from_query(cls, query: dict[str, str], *, watch: bool) -> ListOptions:
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as error:
            raise bad_request(f"invalid limit: {error}") from error
        send_initial = query.get("sendInitialEvents")
        options = cls(
            resource_version=query.get("resourceVersion", ""),
            match=query.get("resourceVersionMatch", ""),
            continue_token=query.get("continue", ""),
            limit=limit,
            send_initial_events=None if send_initial is None else send_initial.lower() in ("true", "1"),
        )
        options.validate(watch=watch)
        if options.resource_version and not options.resource_version.isdigit():
            raise bad_request(f"invalid resource version: {options.resource_version}")
        return options

    def validate(self, *, watch: bool) -> None:
        """apimachinery's ValidateListOptions / validateWatchOptions, with their wording."""
        causes: list[tuple[str, str]] = []
        match = self.match
        if watch:
            if self.send_initial_events is not None and match != NOT_OLDER_THAN:
                causes.append(
                    (
                        "resourceVersionMatch",
                        f"Forbidden: sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
                    )
                )
            if match:
                if self.send_initial_events is None:
                    causes.append(
                        (
                            "resourceVersionMatch",
                            "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                        )
                    )
                if match != NOT_OLDER_THAN:
                    causes.append(
                        (
                            "resourceVersionMatch",
                            f'Unsupported value: "{match}": supported values: "{NOT_OLDER_THAN}"',
                        )
                    )
                if self.continue_token:
                    causes.append(
                        (
                            "resourceVersionMatch",
                            "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                        )
                    )
        else:
            if match:
                if not self.resource_version:
                    causes.append(
                        (
                            "resourceVersionMatch",
                            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                        )
                    )
                if self.continue_token:
                    causes.append(
                        (
                            "resourceVersionMatch",
                            "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                        )
                    )
                if match not in (EXACT, NOT_OLDER_THAN):
                    causes.append(
                        (
                            "resourceVersionMatch",
                            f'Unsupported value: "{match}": supported values: "{EXACT}", "{NOT_OLDER_THAN}", ""',
                        )
                    )
                if match == EXACT and self.resource_version == "0":
                    causes.append(
                        (
                            "resourceVersionMatch",
                            'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                        )
                    )
            if self.send_initial_events is not None:
                causes.append(("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list"))
        if causes:
            raise invalid("ListOptions", "", "meta.k8s.io", causes)


def list_page(
    store: ObjectStore,
    resource: ResourceType,
    namespace: str | None,
    labels: Selector,
    fields: FieldSelector,
    options: ListOptions,
) -> PageResult:
    with store.lock:
        table = store.table(resource)
        at_rv: int | None = None
        start_after = None
        if options.continue_token:
            if options.resource_version not in ("", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            start_after, token_rv = decode_continue(options.continue_token)
            if token_rv != LATEST_REVISION:
                if token_rv < table.compacted_rv:
                    fresh = encode_continue(start_after, LATEST_REVISION)
                    raise gone(INCONSISTENT_CONTINUE, {"continue": fresh})
                at_rv = token_rv
        elif options.resource_version not in ("", "0"):
            wanted = int(options.resource_version)
            if wanted > store.rv:
                raise too_large_resource_version(wanted, store.rv)
            if options.match == EXACT:
                if wanted < table.compacted_rv:
                    raise gone(EXPIRED_LIST)
                at_rv = wanted
        result = store.list(
            resource, namespace, labels, fields, limit=options.limit, start_after=start_after, at_rv=at_rv
        )
        token = encode_continue(result.continue_key, result.resource_version) if result.continue_key else ""
        return PageResult(result.items, result.resource_version, token, result.remaining)


def watch_start(store: ObjectStore, options: ListOptions) -> int | None:
    """The revision a watch starts after, or None to begin with the current objects as ADDED
    events (no resourceVersion, "0", or `sendInitialEvents=true`)."""
    if options.send_initial_events:
        return None
    if options.resource_version in ("", "0"):
        # sendInitialEvents=false without a version: from now on, without the current objects.
        return store.rv if options.send_initial_events is False else None
    return int(options.resource_version)
