"""The ASGI entry point served by the `web:` process (see Procfile and cdp_project/serve.py).

Django's ASGI handler reads a request's whole body asynchronously before any view code runs,
so a client that trickles its headers or body holds a coroutine, not one of the few threads
that run views: slow clients cannot starve the fast ones."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

application = get_asgi_application()
