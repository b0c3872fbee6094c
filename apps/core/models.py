"""Shared model bases."""

from __future__ import annotations

from django.db import models


class BaseModel(models.Model):
    """Abstract base giving every row created/updated timestamps."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
