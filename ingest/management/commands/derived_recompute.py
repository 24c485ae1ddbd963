"""Recompute derived attribute values exactly from the event store, with a progress bar."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from contracts.selectors import derived_attribute_list
from ingest.derived import derived_recompute
from ingest.models import Event
from tenants.selectors import tenant_get_by_slug


class Command(BaseCommand):
    help = "Recompute derived attribute values: derived_recompute --tenant SLUG [--name N ...]"

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", action="append", help="only this definition (repeatable)")

    def handle(self, *args, tenant: str, name: list[str] | None, **options):
        tenant_obj = tenant_get_by_slug(slug=tenant)
        if tenant_obj is None:
            raise CommandError(f"No tenant {tenant!r}.")
        definitions = {d.name: d for d in derived_attribute_list(tenant_id=tenant_obj.pk)}
        unknown = sorted(set(name or ()) - set(definitions))
        if unknown:
            raise CommandError(f"No derived attribute {', '.join(map(repr, unknown))} in tenant {tenant!r}.")
        chosen = [definitions[n] for n in (name or sorted(definitions))]
        types = {d.event_type for d in chosen}
        events = Event.objects.filter(tenant=tenant_obj, event_type__in=types)
        total = events.values("profile_id").distinct().count()
        event_count = events.count()
        started = time.monotonic()
        tty = sys.stdout.isatty()

        def progress(done: int) -> None:
            width = 30
            filled = width if not total else int(width * min(done, total) / total)
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} profiles"
            if tty:
                self.stdout.write(line, ending="")
                self.stdout.flush()

        # derived_recompute commits a locked chunk of profiles at a time, retrying deadlocks.
        written = derived_recompute(tenant_id=tenant_obj.pk, names=[d.name for d in chosen], progress=progress)
        if tty:
            self.stdout.write("")
        self.stdout.write(
            f"Recomputed {', '.join(d.name for d in chosen) or 'nothing'}: {written:,} values "
            f"from {event_count:,} events of {total:,} profiles in {time.monotonic() - started:.1f}s."
        )
