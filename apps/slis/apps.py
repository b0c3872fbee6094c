from django.apps import AppConfig


class SlisConfig(AppConfig):
    name = "apps.slis"
    label = "slis"
