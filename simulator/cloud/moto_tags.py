"""A faster read of one EC2 resource's tags in moto, with the same answer.

moto answers `resource.get_tags()` with `describe_tags(filters={"resource-id": [id]})`, which matches
every tag of every resource in the account against regexes. DescribeInstances with a tag filter
calls it once per instance, so each listing costs instances x all tags: with a few hundred
instances, over half of the simulator's CPU in a long demo went there, and listings took seconds.
The tags live in a dict keyed by resource id; reading that entry gives the same rows in the same
order (`tests/simulator/test_moto_tags.py` holds the two side by side).
"""

from __future__ import annotations

from typing import Any

_installed = False


def tags_of(resource: Any) -> list[dict[str, str]]:
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    resource_id = getattr(resource, "id", None)
    if not resource_id:
        return []
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    held = resource.ec2_backend.tags.get(resource_id) or {}
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in held.items()
    ]


def install() -> None:
    """Make every moto EC2 resource read its tags with `tags_of` (process-wide, once)."""
    global _installed
    if _installed:
        return
    from moto.ec2.models.core import TaggedEC2Resource

    TaggedEC2Resource.get_tags = tags_of  # type: ignore[method-assign,assignment]
    _installed = True
