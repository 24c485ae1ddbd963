import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from cdp_project.core.errors import ProblemError
from tenants.selectors import tenant_get_by_slug
from tenants.services import operator_create

PASSWORD_VARIABLE = "CDP_OPERATOR_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create an admin account that sees only one tenant's data: "
        f"{PASSWORD_VARIABLE}=… create_operator --tenant SLUG --username NAME --noinput"
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="slug of the tenant the operator works for")
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help=f"read the password from {PASSWORD_VARIABLE} instead of asking for it",
        )

    def handle(self, *args, tenant: str, username: str, email: str, interactive: bool, **options):
        found = tenant_get_by_slug(slug=tenant)
        if found is None:
            raise CommandError(f"There is no tenant {tenant!r}.")
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password and interactive:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        if not password:
            raise CommandError(f"Set {PASSWORD_VARIABLE} (the password is never taken from the command line).")
        try:
            operator = operator_create(tenant=found, username=username, password=password, email=email)
        except ProblemError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(
            f"Created operator {operator.user.get_username()} for tenant {found.slug}: "
            "they see only this tenant's data in /admin/."
        )
