"""Drop quarantined items older than CDP_QUARANTINE_RETENTION_DAYS (run it daily, e.g. from cron)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.quarantine import quarantine_prune
from tenants.selectors import tenant_get_by_slug


class Command(BaseCommand):
    help = "Delete quarantined items older than CDP_QUARANTINE_RETENTION_DAYS: quarantine_prune [--tenant SLUG]"

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (default: every tenant)")

    def handle(self, *args, tenant: str | None, **options):
        chosen = None
        if tenant is not None:
            chosen = tenant_get_by_slug(slug=tenant)
            if chosen is None:
                raise CommandError(f"No tenant {tenant!r}.")
        removed = quarantine_prune(tenant=chosen)
        days = settings.CDP_QUARANTINE_RETENTION_DAYS
        self.stdout.write(f"Pruned {removed} quarantined item(s) older than {days} days.")
