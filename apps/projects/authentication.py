"""DRF authentication by project API key: `Authorization: Bearer <key>`."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from apps.projects.access import is_project_admin
from apps.projects.models import ApiKey
from apps.projects.services import api_key_authenticate


class ApiKeyUser:
    """The caller behind an API key: not a Django user, but authenticated for DRF's purposes."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def bearer_key_from(request: HttpRequest) -> str:
    """Return the bearer token of a request, raising 401 with a clear message when absent."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise exceptions.NotAuthenticated("Missing Authorization header: send 'Authorization: Bearer <API key>'.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <API key>'.")
    return token.strip()


def basic_or_bearer_key_from(request: HttpRequest) -> str:
    """Return the Sightline key of a Langfuse-SDK request: the secret of `Basic base64(public:secret)`, or a bearer.

    Langfuse's SDKs authenticate with HTTP Basic, public key as the user name and secret key as the password.
    The secret is a Sightline key; the public part is ignored (any value works).
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return bearer_key_from(request)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise exceptions.AuthenticationFailed("Basic credentials must be base64 of 'public_key:secret_key'.") from None
    _, sep, secret = decoded.partition(":")
    if not sep or not secret.strip():
        raise exceptions.AuthenticationFailed(
            "Basic credentials must be 'public_key:secret_key'; the secret is the key."
        )
    return secret.strip()


def api_key_from_request(request: HttpRequest) -> ApiKey:
    """Resolve the request's API key or raise 401 (wrong, revoked or missing key).

    Through the key cache, as the OTLP receivers do: a revocation bumps the Redis generation that every lookup
    checks, so a revoked key is refused on the next request; without Redis each call reads the database.
    """
    api_key = api_key_authenticate(plaintext=bearer_key_from(request), cached=True)
    if api_key is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    return api_key


class ProjectApiKeyAuthentication(BaseAuthentication):
    """Resolve the project from a bearer API key; request.auth is the ApiKey."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey]:
        api_key = api_key_from_request(request._request)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="sightline"'


class LangfuseKeyAuthentication(BaseAuthentication):
    """Langfuse-compatible endpoints: HTTP Basic whose password is a Sightline key (or a bearer key)."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey]:
        api_key = api_key_authenticate(plaintext=basic_or_bearer_key_from(request._request))
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="sightline"'


# What each scope may do with the default permission: read keys read; write and admin keys also write.
# Feedback keys are write-only and reach nothing here: the feedback API grants them its own permission.
READ_SCOPES = frozenset({ApiKey.Scope.READ, ApiKey.Scope.WRITE, ApiKey.Scope.ADMIN})
WRITE_SCOPES = frozenset({ApiKey.Scope.WRITE, ApiKey.Scope.ADMIN})


def _request_api_key(request: Request) -> ApiKey:
    api_key = request.auth
    if not isinstance(api_key, ApiKey):
        raise exceptions.NotAuthenticated("Missing Authorization header: send 'Authorization: Bearer <API key>'.")
    return api_key


class HasProjectApiKey(BasePermission):
    """Allow reads to read/write/admin keys; writes need a write- or admin-scoped key."""

    message = "This API key is read-only; writes need a key with the write scope."

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = _request_api_key(request)
        if api_key.scope == ApiKey.Scope.FEEDBACK:
            self.message = "This API key only sends feedback; reading and ingest need a read or write key."
            return False
        return request.method in SAFE_METHODS or api_key.scope in WRITE_SCOPES


class AdminScopeForWrites(BasePermission):
    """Configuration endpoints (judges, evaluators, rules, channels): changes need an admin-scoped key."""

    message = "Changing configuration needs an API key with the admin scope (sl_a_…)."

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = _request_api_key(request)
        if request.method in SAFE_METHODS:
            return api_key.scope in READ_SCOPES
        return is_project_admin(api_key=api_key)


# The permission list of configuration endpoints: `permission_classes = CONFIGURATION_PERMISSIONS`.
CONFIGURATION_PERMISSIONS = [HasProjectApiKey, AdminScopeForWrites]
