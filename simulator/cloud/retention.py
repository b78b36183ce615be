"""Terminated instances leave the account an hour after they terminate, as on AWS.

AWS: "After you terminate an instance, it remains visible in the console for a short while, and then
the entry is automatically deleted" (EC2 User Guide, *Terminate Amazon EC2 instances*), and
DescribeInstances stops returning it after about an hour. moto keeps every instance it ever ran, so a
simulated account that runs for days would answer every DescribeInstances over all of them: the
simulator's memory and CPU would creep, and the product would be tested against listings no real
account returns.

The sweep runs on the simulated clock: it notes when it first sees an instance terminated and, an hour
of simulated time later, removes it (and its tags) from moto's backend.

When it first sees an instance terminated it also deletes the network interfaces the launch created
(AWS deletes an interface whose attachment says DeleteOnTermination, and the primary interface of a
launch does): their private addresses go back to the subnet. moto keeps them, so a subnet of a
long-running simulation ran out of addresses after a few hundred launches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from moto.ec2.models import ec2_backends

# How long a terminated instance stays visible (AWS: up to an hour).
TERMINATED_VISIBLE_SECONDS = 3600.0
# How often the sweep runs, in simulated seconds.
SWEEP_EVERY_SECONDS = 300.0


class TerminatedInstances:
    def __init__(self, places: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """`places`: the (account, region) pairs whose instances this sweep looks after."""
        self.places = places
        self._terminated_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def sweep(self, now: float) -> int:
        """Note newly terminated instances at `now`; remove those terminated an hour ago or more.
        Returns how many were removed."""
        removed = 0
        with self._lock:
            for account, region in set(self.places()):
                removed += self._sweep(ec2_backends[account][region], now)
        return removed

    def _sweep(self, backend: object, now: float) -> int:
        removed = 0
        reservations = backend.reservations  # type: ignore[attr-defined]
        for reservation_id, reservation in list(reservations.items()):
            kept = []
            for instance in reservation.instances:
                if instance.state != "terminated":
                    kept.append(instance)
                    continue
                if instance.id not in self._terminated_at:
                    _release_interfaces(backend, instance)
                since = self._terminated_at.setdefault(instance.id, now)
                if now - since < TERMINATED_VISIBLE_SECONDS:
                    kept.append(instance)
                    continue
                del self._terminated_at[instance.id]
                backend.tags.pop(instance.id, None)  # type: ignore[attr-defined]
                removed += 1
            if len(kept) != len(reservation.instances):
                # A new list, not an edit in place: a DescribeInstances running now iterates the old one.
                reservation.instances = kept
            if not kept:
                reservations.pop(reservation_id, None)
        return removed


def _release_interfaces(backend: object, instance: object) -> None:
    enis = backend.enis  # type: ignore[attr-defined]
    for nic in list(instance.nics.values()):  # type: ignore[attr-defined]
        if nic.id in enis and (nic.delete_on_termination or nic.device_index == 0):
            nic.delete()
    subnet = backend.get_subnet(instance.subnet_id) if instance.subnet_id else None  # type: ignore[attr-defined]
    for address in list(getattr(instance, "_private_ips", ())):
        if subnet is not None:
            subnet.del_subnet_ip(address)
