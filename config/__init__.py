"""Sightline's Django settings package (named `config`, not `platform`, which would shadow the stdlib)."""

import sys

# Web and worker processes build the Celery app here, so shared_task binds to it. Beat runs its own Django-free
# app (apps/core/beat.py, importing this package for the settings): the full app's Django fix-up would run
# django.setup() and import every app's tasks in it.
if "apps.core.beat" not in sys.modules:
    from config.celery import app as celery_app

    __all__ = ["celery_app"]
