from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lab.demo.seed import demo_seed


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its owner; prints the credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = demo_seed()
        self.stdout.write(f"Demo organization: {credentials.organization.name}")
        self.stdout.write(f"E-mail:   {credentials.email}")
        self.stdout.write(f"Password: {credentials.password}")
