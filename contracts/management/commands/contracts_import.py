import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cdp_project.core.errors import ProblemError
from cdp_project.core.parsers import loads_strict
from contracts.plans import PlanImportResult, contracts_plan_import
from tenants.selectors import tenant_get_by_slug


class _RollBack(Exception):
    def __init__(self, result: PlanImportResult) -> None:
        self.result = result


class Command(BaseCommand):
    help = (
        "Apply a JSON plan to a tenant's contracts: contracts_import --tenant SLUG plan.json. "
        "Creates what is missing, updates what differs, deletes nothing; all or nothing; "
        "a second run changes nothing. Use - to read the plan from stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("plan", help="path of the plan file, or - for stdin")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")

    def handle(self, *args, tenant: str, plan: str, dry_run: bool, **options):
        tenant_obj = tenant_get_by_slug(slug=tenant)
        if tenant_obj is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            raw = sys.stdin.buffer.read() if plan == "-" else Path(plan).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read the plan: {error}") from None
        try:
            result = self._apply(tenant_obj.pk, loads_strict(raw), dry_run=dry_run)
        except ProblemError as error:
            lines = [f"The plan was not applied: {error.detail or error.title}"]
            lines += [f"  {p.pointer or '/'}: {p.code}: {p.detail}" for p in error.errors]
            raise CommandError("\n".join(lines)) from None
        for line in result.changes:
            self.stdout.write(f"(dry run) {line}" if dry_run else line)
        verb = "would be created or updated" if dry_run else "created or updated"
        self.stdout.write(f"{len(result.changes)} definition(s) {verb}, {result.unchanged} unchanged.")

    @staticmethod
    def _apply(tenant_id: int, plan, *, dry_run: bool) -> PlanImportResult:
        if not dry_run:
            return contracts_plan_import(tenant_id=tenant_id, plan=plan)
        try:
            with transaction.atomic():
                raise _RollBack(contracts_plan_import(tenant_id=tenant_id, plan=plan))
        except _RollBack as rolled_back:
            return rolled_back.result
