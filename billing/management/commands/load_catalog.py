"""`manage.py load_catalog`: store the price catalog from data/ in the database, idempotently.

python manage.py load_catalog                          # every provider and region the data prices
python manage.py load_catalog --provider aws --region us-east-1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.pricing import DEFAULT_DATA_DIR, build_catalog, priced_regions
from billing.services import catalog_load


class Command(BaseCommand):
    help = "Load instance types, offerings, spot prices and serverless prices from data/ (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", action="append", choices=["aws", "azure", "gcp"], help="repeatable")
        parser.add_argument("--region", action="append", help="repeatable; default: every region with prices")
        parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir: Path = options["data_dir"]
        providers = options["provider"] or ["aws", "azure", "gcp"]
        available = priced_regions(data_dir, providers)
        wanted_regions = set(options["region"] or [])
        pairs = [
            (provider, region)
            for provider in providers
            for region in available[provider]
            if not wanted_regions or region in wanted_regions
        ]
        if not pairs:
            raise CommandError(f"no priced region matches; the data prices {available}")
        for provider, region in pairs:
            report = catalog_load(catalog=build_catalog(provider, region, data_dir))
            self.stdout.write(f"{provider} {region}:")
            for kind, tally in report.tallies.items():
                self.stdout.write(f"  {kind}: {tally.describe()}")
        self.stdout.write(self.style.SUCCESS(f"catalog loaded for {len(pairs)} region(s)"))
