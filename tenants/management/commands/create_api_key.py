import json

from django.core.management.base import BaseCommand, CommandError

from cdp_project.core.errors import ProblemError
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create a server API key and print it once: "
        "create_api_key --tenant SLUG --scopes ingest,admin,runtime [--name NAME] [--json]; "
        "a write key for the Segment-compatible ingress: --scopes ingest --source SOURCE_KEY"
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--scopes", required=True, help="comma-separated subset of ingest,admin,runtime")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--source", default="", help="bind the key to this registered source: a write key for /v1/*"
        )
        parser.add_argument("--json", action="store_true", help="print {key, prefix, scopes} as JSON")

    def handle(self, *args, tenant: str, scopes: str, name: str, source: str, json: bool, **options):
        tenant_obj = tenant_get_by_slug(slug=tenant)
        if tenant_obj is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            created = api_key_create(tenant=tenant_obj, scopes=scopes.split(","), name=name, source=source)
        except ProblemError as error:
            raise CommandError(error.detail) from None
        payload = {"key": created.plaintext, "prefix": created.api_key.display_prefix, "scopes": created.api_key.scopes}
        if created.api_key.source_key:
            payload["source"] = created.api_key.source_key
        if json:
            self.stdout.write(_dumps(payload))
        else:
            bound = f", write key of source {source}" if created.api_key.source_key else ""
            self.stdout.write(
                f"API key for {tenant_obj.slug} ({', '.join(payload['scopes'])}{bound}), shown only once:"
            )
            self.stdout.write(created.plaintext)


def _dumps(payload: dict) -> str:
    return json.dumps(payload)
