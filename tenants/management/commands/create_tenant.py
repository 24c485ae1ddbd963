from django.core.management.base import BaseCommand, CommandError

from cdp_project.core.errors import ProblemError
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant: create_tenant SLUG --name NAME [--default-region GB]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--default-region", default="GB")

    def handle(self, *args, slug: str, name: str, default_region: str, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, default_region=default_region)
        except ProblemError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}), default region {tenant.default_region}.")
