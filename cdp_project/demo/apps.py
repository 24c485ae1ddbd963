from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make run`. Sits above every app layer, so it may use them all."""

    name = "cdp_project.demo"
    label = "demo"
