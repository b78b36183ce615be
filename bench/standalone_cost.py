"""What finding an organization's stand-alone objects costs each federation pass.

    NODELESS_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/nodeless_cost \\
        REDIS_URL=redis://127.0.0.1:6379/3 CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
        python bench/standalone_cost.py --apps 1000

Stores ``--apps`` ConfigMaps, Secrets and Services (as an application's companions are) in one
namespace of an organization in a throw-away database, ``--named`` of each naming a policy, and
times ``standalone_actions`` (what a pass runs once per organization): its first call in the
process (every Secret decrypted once, to find the policy it names) and the calls after it (the
median of ``--passes``), against the baseline measured in the same run: every candidate read and
rendered, as each pass did before (Secrets decrypted each time). Printed: CPU and wall
milliseconds and statements of each, and the ratio of the baseline's CPU to a later pass's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.federation_e2e import _throwaway_database  # noqa: E402

KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ConfigMap", {"data": {"settings": "x" * 200}}),
    ("Secret", {"type": "Opaque", "data": {"password": "c2VjcmV0LXZhbHVl"}}),
    ("Service", {"spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}),
)


def _store(organization: Any, apps: int, named: int) -> None:
    from django.db import transaction

    from policies.kubeapi import store
    from policies.kubeapi.resources import by_kind
    from policies.kubeapi.standalone import POLICY_ANNOTATION

    namespace = by_kind("", "Namespace")
    assert namespace is not None
    new = [
        store.new_object(
            organization,
            namespace,
            "",
            "apps",
            store.Write({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, {}, 1),
        )
    ]
    for kind, content in KINDS:
        resource = by_kind("", kind)
        assert resource is not None
        for number in range(apps):
            metadata: dict[str, Any] = {
                "name": f"app-{number}",
                "namespace": "apps",
                "labels": {"app": "web"},
            }
            if number < named:
                metadata["annotations"] = {POLICY_ANNOTATION: "everywhere"}
            obj = {"apiVersion": "v1", "kind": kind, "metadata": metadata, **content}
            new.append(
                store.new_object(organization, resource, "apps", metadata["name"], store.Write(obj, {}, 1))
            )
    with transaction.atomic():
        store.create_many(organization, store.lock(organization), new)


def _every_candidate_rendered(organization_id: str) -> int:
    """The baseline: what each pass read and rendered before, every candidate of the companion kinds."""
    from policies.kubeapi import store
    from policies.kubeapi.companions import COMPANION_GROUPS
    from policies.kubeapi.standalone import POLICY_ANNOTATION
    from policies.models import KubeObject

    candidates = KubeObject.objects.filter(
        organization_id=organization_id, kind__in=set(COMPANION_GROUPS), deleted_at__isnull=True
    ).exclude(namespace="")
    return sum(
        1
        for kobj in candidates
        if (store.render(kobj)["metadata"].get("annotations") or {}).get(POLICY_ANNOTATION)
    )


def _timed(call: Callable[[], object]) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as captured:
        call()
    return {
        "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
        "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
        "statements": len(captured.captured_queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000, help="ConfigMaps, Secrets and Services, of each")
    parser.add_argument("--named", type=int, default=5, help="of each kind, how many name a policy")
    parser.add_argument("--passes", type=int, default=9, help="calls timed after the first")
    args = parser.parse_args()
    with _throwaway_database(suffix="standalone") as database:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
        os.environ.setdefault("NODELESS_ENV", "test")
        django.setup()
        from django.core.management import call_command

        from policies.kubeapi.standalone import standalone_actions
        from tenants.models import Organization

        call_command("migrate", verbosity=0)
        organization = Organization.objects.create(name="standalone-cost", slug="standalone-cost")
        _store(organization, args.apps, args.named)
        organization_id = str(organization.pk)
        baseline = [_timed(lambda: _every_candidate_rendered(organization_id)) for _ in range(3)]
        first = _timed(lambda: standalone_actions(organization_id))
        later = [_timed(lambda: standalone_actions(organization_id)) for _ in range(args.passes)]

        def median(runs: list[dict[str, float]]) -> dict[str, float]:
            return {key: statistics.median(run[key] for run in runs) for key in runs[0]}

        line = {
            "objects": args.apps * len(KINDS),
            "named": args.named * len(KINDS),
            "baseline_every_candidate_rendered": median(baseline),
            "first_pass": first,
            "later_passes": median(later),
            "database": database,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        later_cpu = max(line["later_passes"]["cpu_ms"], 0.1)
        line["baseline_over_later_cpu"] = round(
            line["baseline_every_candidate_rendered"]["cpu_ms"] / later_cpu, 1
        )
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
