"""Load the demo tenant for `make run`, once: on the first run it creates the tenant with its
sources, contracts, campaign, a segment and sample traffic (cdp_project/demo/seed.py); on
every later run it changes nothing ops may have edited in the admin and only makes sure the
credentials work. They are kept in var/demo-credentials.json (a local, git-ignored file;
only hashes are in the database) and printed as shell variables ready to paste."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from cdp_project.demo.seed import CAMPAIGN, SOURCES, demo_tenant_configure, demo_traffic_send
from tenants.models import ApiKey
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
DEMO_KEYS = {
    "ingest": ["ingest"],
    "admin": ["admin"],
    "runtime": ["runtime"],
}


class Command(BaseCommand):
    help = "Create the demo tenant once (sources, contracts, campaign, sample data), its API keys and an admin user."

    def handle(self, *args, **options):
        path = Path(settings.VAR_DIR) / "demo-credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = json.loads(path.read_text()) if path.exists() else {}

        with transaction.atomic():
            tenant = tenant_get_by_slug(slug=DEMO_SLUG)
            first_run = tenant is None
            if first_run:
                tenant = tenant_create(slug=DEMO_SLUG, name="Demo shop", default_region="GB")
                demo_tenant_configure(tenant=tenant)

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

        if first_run:
            demo_traffic_send(tenant=tenant)  # ingestion owns its transactions
        path.write_text(json.dumps({"keys": keys, "admin": admin_user}, indent=2))
        path.chmod(0o600)

        out = self.stdout.write
        base = f"http://localhost:{os.environ.get('PORT', '8000')}"
        out("")
        state = "loaded" if first_run else "kept as it is (loaded once; edits made in the admin stay)"
        out(self.style.SUCCESS(f"Demo tenant '{tenant.slug}' {state}: sources {', '.join(SOURCES)}, "
                               f"campaign {CAMPAIGN['key']}."))
        out(f"  admin console: {base}/admin/  user {admin_user['username']} / password {admin_user['password']}")
        out(f"  API docs:      {base}/api/docs/")
        out("  API keys, one per scope; paste this line into your shell for the README's examples:")
        out("")
        out("export " + " ".join(f"{label.upper()}_KEY={entry['key']}" for label, entry in keys.items()))
        out("")


def exported_keys(output: str) -> dict[str, str]:
    """The keys of demo_load's `export INGEST_KEY=… ADMIN_KEY=… RUNTIME_KEY=…` line, by scope."""
    line = next(text for text in output.splitlines() if text.startswith("export "))
    pairs = (item.split("=", 1) for item in line.split()[1:])
    return {name.removesuffix("_KEY").lower(): value for name, value in pairs}
