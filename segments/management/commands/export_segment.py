"""Export a segment's members ready on one channel, like GET /api/v1/segments/{key}/export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdp_project.core.errors import ProblemError
from segments import exports, selectors
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Stream a segment's channel-ready members as CSV or NDJSON (to a file or standard output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--segment", required=True, help="Segment key.")
        parser.add_argument("--channel", required=True, help="EMAIL, SMS, PUSH or WHATSAPP.")
        parser.add_argument("--format", default="csv", help="csv (default) or ndjson.")
        parser.add_argument("--attributes", default="", help="Comma-separated attribute or derived-attribute names.")
        parser.add_argument("--output", default="", help="A file to write; standard output when left out.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}.")
        params = {"channel": options["channel"], "format": options["format"]}
        if options["attributes"]:
            params["attributes"] = options["attributes"]
        try:
            segment = selectors.segment_get(tenant_id=tenant.pk, key=options["segment"])
            spec = exports.export_spec_parse(tenant_id=tenant.pk, params=params)
            chunks = exports.export_chunks(segment=segment, spec=spec)
        except ProblemError as error:
            details = "; ".join(f"{e.pointer}: {e.detail}" for e in error.errors) or error.detail
            raise CommandError(f"{error.title}: {details}") from None
        if options["output"]:
            count = 0
            Path(options["output"]).parent.mkdir(parents=True, exist_ok=True)  # e.g. var/ on a fresh clone
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                for chunk in chunks:
                    out.write(chunk)
                    count += chunk.count("\n")
            lines = count - (1 if spec.format == "csv" else 0)
            self.stderr.write(f"Wrote {lines} rows to {options['output']}.")
        else:
            stream = self.stdout if self.stdout is not None else sys.stdout
            for chunk in chunks:
                stream.write(chunk, ending="")
