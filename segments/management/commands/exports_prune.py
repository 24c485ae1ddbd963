"""Delete export files older than CDP_EXPORT_RETENTION_HOURS (run it from cron or a scheduler)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments.export_jobs import exports_prune
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Delete export files older than CDP_EXPORT_RETENTION_HOURS: exports_prune [--tenant SLUG]"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="Only this tenant's files (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
            tenant_id = tenant.pk
        removed = exports_prune(tenant_id=tenant_id)
        self.stdout.write(f"Removed {removed} export file(s).")
