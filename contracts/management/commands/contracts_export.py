import json

from django.core.management.base import BaseCommand, CommandError

from contracts.plans import contracts_plan_export
from tenants.selectors import tenant_get_by_slug


class Command(BaseCommand):
    help = "Print a tenant's contracts as a JSON plan: contracts_export --tenant SLUG > plan.json"

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, tenant: str, **options):
        tenant_obj = tenant_get_by_slug(slug=tenant)
        if tenant_obj is None:
            raise CommandError(f"No tenant {tenant!r}.")
        plan = contracts_plan_export(tenant_id=tenant_obj.pk)
        self.stdout.write(json.dumps(plan, indent=2, ensure_ascii=False))
