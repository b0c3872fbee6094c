from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo: an admin login and a project with a day of scored traffic, built from every other app."""

    name = "apps.demo"
    label = "demo"
