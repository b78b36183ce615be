"""Tenant services take the organization (or an object it owns) first and everything else by keyword.

`def member_remove(organization, *, member, actor)`: a call names every argument after the tenant,
so two objects of the same organization cannot be passed in the wrong order. System entry points
that a worker runs by id (`meter_cluster(cluster_id)`) take no tenant object and are not checked.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

from django.db import models

from tenants.models import Organization

# The tenant services this rule covers. billing.services.samples reads a cluster for the metering
# worker (not a service acting for a tenant) and is left out.
SERVICE_MODULES = (
    "tenants.services",
    "billing.services",
    "clusters.services",
    "policies.services",
    "policies.federation.services",
)
NOT_TENANT_SERVICES = {"billing.services.samples"}


def _modules(name: str) -> list[ModuleType]:
    module = importlib.import_module(name)
    if not hasattr(module, "__path__"):
        return [module]
    found = [importlib.import_module(info.name) for info in pkgutil.iter_modules(module.__path__, f"{name}.")]
    return [module for module in found if module.__name__ not in NOT_TENANT_SERVICES]


def _owned_by_an_organization(annotation: object) -> bool:
    if not (isinstance(annotation, type) and issubclass(annotation, models.Model)):
        return False
    fields = {field.name for field in annotation._meta.get_fields()}
    return annotation is Organization or "organization" in fields


def _tenant_services() -> list[tuple[str, inspect.Signature]]:
    found = []
    for package in SERVICE_MODULES:
        for module in _modules(package):
            for name, function in vars(module).items():
                if name.startswith("_") or not inspect.isfunction(function):
                    continue
                if function.__module__ != module.__name__:
                    continue  # imported from elsewhere
                hints = typing.get_type_hints(function)
                parameters = list(inspect.signature(function).parameters.values())
                if parameters and _owned_by_an_organization(hints.get(parameters[0].name)):
                    found.append((f"{module.__name__}.{name}", inspect.signature(function)))
    return found


def test_every_tenant_service_takes_its_tenant_first_and_the_rest_by_keyword() -> None:
    services = _tenant_services()
    # The scan finds the services of every app it covers, not nothing.
    assert {
        "tenants.services.members.member_remove",
        "billing.services.placements.placements_refresh",
        "clusters.services.accounts.cloud_account_update",
        "policies.services.provisioning.provisioning_policy_save",
    } <= {name for name, _ in services}
    positional = [
        f"{name}{signature}"
        for name, signature in services
        if any(p.kind is not p.KEYWORD_ONLY for p in list(signature.parameters.values())[1:])
    ]
    assert not positional, "make every argument after the tenant keyword-only:\n" + "\n".join(positional)
