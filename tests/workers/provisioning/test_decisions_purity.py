"""The pass's decisions are pure: no Django, no clients, no I/O, whatever they import on the way
(checked on the import graph with grimp, the library under import-linter)."""

from __future__ import annotations

import grimp

DECISIONS = (
    "workers.provisioning.bind",
    "workers.provisioning.commands",
    "workers.provisioning.disruption",
    "workers.provisioning.disruption.base",
    "workers.provisioning.disruption.consolidation",
    "workers.provisioning.disruption.emptiness",
    "workers.provisioning.disruption.garbage",
    "workers.provisioning.disruption.interruption",
    "workers.provisioning.drain",
    "workers.provisioning.inputs",
    "workers.provisioning.launch",
    "workers.provisioning.launch_request",
    "workers.provisioning.lifecycle",
    "workers.provisioning.pods",
    "workers.provisioning.records",
)
# Packages Python runs on the way to them (their `__init__` modules).
PARENTS = ("workers", "workers.provisioning", "clusters", "clusters.cloud")
FORBIDDEN = (
    "django",
    "rest_framework",
    "celery",
    "boto3",
    "botocore",
    "kubernetes",
    "requests",
    "os",
    "time",
)
ALLOWED_PROJECT = ("engines", "clusters.cloud.interface", "clusters.cloud.errors", *DECISIONS, *PARENTS)


def test_decisions_import_nothing_impure() -> None:
    graph = grimp.build_graph("workers", "clusters", "engines", include_external_packages=True)
    for module in (*DECISIONS, *PARENTS):
        upstream = graph.find_upstream_modules(module)
        roots = {name.split(".")[0] for name in upstream}
        assert not roots & set(FORBIDDEN), (module, sorted(roots & set(FORBIDDEN)))
        project = {name for name in upstream if name.split(".")[0] in ("workers", "clusters")}
        outside = {name for name in project if not name.startswith(ALLOWED_PROJECT)}
        assert not outside, (module, sorted(outside))
