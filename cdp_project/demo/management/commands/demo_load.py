"""Load the demo tenant for `make run`. Idempotent: a second run reuses what exists and
prints the same credentials, which are kept in var/demo-credentials.json (a local,
git-ignored file; only hashes are in the database)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from contracts.plans import contracts_plan_import
from ingest.models import Source
from ingest.services import source_create
from runtime.models import Campaign
from runtime.services import campaign_create
from runtime.variables import variables_parse
from tenants.models import ApiKey
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
DEMO_KEYS = {
    "ingest": ["ingest"],
    "admin": ["admin"],
    "runtime": ["runtime"],
}
DEMO_SOURCES = {"shop-backend": "Shop backend", "crm": "CRM"}
DEMO_CAMPAIGN = {
    "key": "spring-quiz",
    "name": "Spring quiz",
    "variables": [
        {"name": "step", "type": "integer", "default": 0},
        {"name": "answers", "type": "array", "default": []},
    ],
}
DEMO_CONTRACTS = Path(__file__).resolve().parents[2] / "demo_contracts.json"


class Command(BaseCommand):
    help = "Create (or reuse) the demo tenant, its sources, contracts, campaign, API keys and an admin user."

    def handle(self, *args, **options):
        path = Path(settings.VAR_DIR) / "demo-credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = json.loads(path.read_text()) if path.exists() else {}

        with transaction.atomic():
            tenant = tenant_get_by_slug(slug=DEMO_SLUG) or tenant_create(
                slug=DEMO_SLUG, name="Demo shop", default_region="GB"
            )
            for key, name in DEMO_SOURCES.items():
                if not Source.objects.filter(tenant=tenant, key=key).exists():
                    source_create(tenant=tenant, key=key, name=name)
            # Contracts as code: the import creates what is missing and changes nothing on a rerun.
            contracts_plan_import(
                tenant_id=tenant.pk, plan=json.loads(DEMO_CONTRACTS.read_text()), changed_by="demo_load"
            )
            if not Campaign.objects.filter(tenant=tenant, key=DEMO_CAMPAIGN["key"]).exists():
                variables, problems = variables_parse(DEMO_CAMPAIGN["variables"])
                assert not problems, problems
                campaign_create(
                    tenant=tenant, key=DEMO_CAMPAIGN["key"], name=DEMO_CAMPAIGN["name"], variables=variables
                )

            keys = stored.get("keys", {})
            for label, scopes in DEMO_KEYS.items():
                known = keys.get(label)
                live = (
                    known
                    and ApiKey.objects.filter(
                        tenant=tenant, prefix=known["prefix"].removeprefix("rfk_"), revoked_at__isnull=True
                    ).exists()
                )
                if not live:
                    created = api_key_create(tenant=tenant, scopes=scopes, name=f"demo {label}")
                    keys[label] = {"key": created.plaintext, "prefix": created.api_key.display_prefix, "scopes": scopes}

            User = get_user_model()
            admin_user = stored.get("admin") or {"username": "admin", "password": secrets.token_urlsafe(12)}
            user = User.objects.filter(username=admin_user["username"]).first()
            if user is None:
                User.objects.create_superuser(admin_user["username"], "admin@example.com", admin_user["password"])
            elif not user.check_password(admin_user["password"]):
                user.set_password(admin_user["password"])
                user.save(update_fields=["password"])

        path.write_text(json.dumps({"keys": keys, "admin": admin_user}, indent=2))
        path.chmod(0o600)

        out = self.stdout.write
        out("")
        out(self.style.SUCCESS(f"Demo tenant '{tenant.slug}' is ready (sources: {', '.join(DEMO_SOURCES)})."))
        out(f"  campaign: {DEMO_CAMPAIGN['key']} (runtime tokens: POST /api/v1/runtime/sessions, see docs/runtime.md)")
        for label, entry in keys.items():
            out(f"  {label:<8} API key ({', '.join(entry['scopes'])}): {entry['key']}")
        base = f"http://localhost:{os.environ.get('PORT', '8000')}"
        out(f"  admin user: {admin_user['username']} / {admin_user['password']}  ->  {base}/admin/")
        out(f"  API docs: {base}/api/docs/")
        out("")
