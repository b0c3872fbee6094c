"""OpenAPI description of the bearer API key authentication (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ProjectApiKeyScheme(OpenApiAuthenticationExtension):
    """Document `Authorization: Bearer <project API key>` in the schema."""

    target_class = "apps.projects.authentication.ProjectApiKeyAuthentication"
    name = "ProjectApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A project API key from the Settings page: sl_w_… ingests and reads, sl_r_… reads, "
                "sl_a_… also changes configuration (judges, evaluators, backfills), sl_f_… only sends feedback "
                "(POST /api/v1/feedback; write-only, safe in a browser)."
            ),
        }


class LangfuseKeyScheme(OpenApiAuthenticationExtension):
    """Document the Langfuse-compatible endpoints' HTTP Basic (secret = a Sightline key) in the schema."""

    target_class = "apps.projects.authentication.LangfuseKeyAuthentication"
    name = "LangfuseBasic"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": (
                "What Langfuse's SDKs send: `Basic base64(public_key:secret_key)`. The secret key is a Sightline "
                "key with the write scope; the public key is ignored. A bearer key works too."
            ),
        }
