"""DRF authentication by project API key: `Authorization: Bearer <key>`."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

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


def api_key_from_request(request: HttpRequest) -> ApiKey:
    """Resolve the request's API key or raise 401 (wrong, revoked or missing key)."""
    api_key = api_key_authenticate(plaintext=bearer_key_from(request))
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


class HasProjectApiKey(BasePermission):
    """Allow callers with a key; writes need a write-scoped key."""

    message = "This API key is read-only; writes need a key with the write scope."

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            raise exceptions.NotAuthenticated("Missing Authorization header: send 'Authorization: Bearer <API key>'.")
        return request.method in SAFE_METHODS or api_key.scope == ApiKey.Scope.WRITE
