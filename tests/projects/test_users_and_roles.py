"""Admins create users and invitation links, and change roles, from the project's settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.projects.models import Invitation, Membership
from apps.projects.services import (
    invitation_accept,
    invitation_create,
    key_hash,
    membership_role_set,
    user_create,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_user_create_makes_a_login_with_a_role_and_a_first_password(project):
    created = user_create(project=project, username="dana", email="dana@example.com", role="reviewer")
    user = get_user_model().objects.get(username="dana")
    assert created.membership.role == "reviewer" and created.membership.project == project
    assert user.check_password(created.password) and user.email == "dana@example.com"
    with pytest.raises(ValidationError, match="exists already"):
        user_create(project=project, username="DANA", role="viewer")
    with pytest.raises(ValidationError):
        user_create(project=project, username="bad name!", role="viewer")


def test_the_last_admin_cannot_be_demoted(project, alice):
    admin = Membership.objects.get(project=project, user=alice)
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_role_set(project=project, membership_id=admin.id, role="viewer")
    bob = Membership.objects.get(project=project, user__username="bob")
    assert membership_role_set(project=project, membership_id=bob.id, role="admin").role == "admin"
    assert membership_role_set(project=project, membership_id=admin.id, role="viewer").role == "viewer"


def test_an_invitation_stores_only_a_hash_and_works_once(project):
    issued = invitation_create(project=project, role="reviewer", email="eve@example.com")
    row = Invitation.objects.get(id=issued.invitation.id)
    assert row.token_hash == key_hash(issued.token) and issued.token not in row.token_hash
    membership = invitation_accept(token=issued.token, username="eve", password="a-long-enough-pass-42")
    assert membership.role == "reviewer" and membership.user.check_password("a-long-enough-pass-42")
    with pytest.raises(ValidationError, match="already used"):
        invitation_accept(token=issued.token, username="eve2", password="a-long-enough-pass-42")


def test_an_expired_invitation_is_refused(project):
    issued = invitation_create(project=project, role="viewer")
    Invitation.objects.filter(id=issued.invitation.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        invitation_accept(token=issued.token, username="late", password="a-long-enough-pass-42")


def test_an_invitation_never_lowers_an_existing_members_role(project, alice):
    issued = invitation_create(project=project, role="viewer")
    assert invitation_accept(token=issued.token, user=alice).role == "admin"


def test_a_weak_password_is_refused_and_the_link_stays_usable(project):
    issued = invitation_create(project=project, role="viewer")
    with pytest.raises(ValidationError):
        invitation_accept(token=issued.token, username="weak", password="123")
    assert invitation_accept(token=issued.token, username="weak", password="a-long-enough-pass-42").role == "viewer"


def test_admin_creates_a_user_from_settings_and_sees_the_password_once(client, alice, project):
    client.force_login(alice)
    url = reverse("projects:user-create", args=[project.slug])
    response = client.post(url, {"username": "frank", "email": "", "role": "viewer"}, **HTMX)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    password = html.split('data-testid="created-user-password">', 1)[1].split("<", 1)[0]
    assert get_user_model().objects.get(username="frank").check_password(password)
    assert password not in client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    again = client.post(url, {"username": "frank", "role": "viewer"}, **HTMX)
    assert again.status_code == 400 and "exists already" in again.content.decode()


def test_viewer_cannot_manage_users_invitations_or_roles(client, bob, project):
    client.force_login(bob)
    member = Membership.objects.get(project=project, user=bob)
    assert (
        client.post(
            reverse("projects:user-create", args=[project.slug]), {"username": "x", "role": "admin"}
        ).status_code
        == 403
    )
    assert client.post(reverse("projects:invitation-create", args=[project.slug]), {"role": "admin"}).status_code == 403
    assert (
        client.post(reverse("projects:member-role", args=[project.slug, member.id]), {"role": "admin"}).status_code
        == 403
    )
    assert Membership.objects.get(id=member.id).role == "viewer"


def test_outsider_gets_404(client, carol, project):
    client.force_login(carol)
    assert (
        client.post(
            reverse("projects:user-create", args=[project.slug]), {"username": "x", "role": "admin"}
        ).status_code
        == 404
    )


def test_invitation_link_round_trip_for_a_new_user(client, alice, project):
    client.force_login(alice)
    response = client.post(reverse("projects:invitation-create", args=[project.slug]), {"role": "reviewer"}, **HTMX)
    link = response.content.decode().split('data-testid="invitation-link">', 1)[1].split("<", 1)[0]
    assert link.startswith("http://testserver/invite/")
    client.logout()
    path = link.removeprefix("http://testserver")
    assert "Join Acme Support Bot" in client.get(path).content.decode()
    joined = client.post(path, {"username": "gina", "password": "a-long-enough-pass-42"})
    assert joined.status_code == 302 and joined["Location"] == reverse("traces:list", args=[project.slug])
    assert Membership.objects.get(project=project, user__username="gina").role == "reviewer"
    client.logout()
    assert client.get(path).status_code == 404  # used up


def test_role_change_from_settings(client, alice, project):
    client.force_login(alice)
    bob = Membership.objects.get(project=project, user__username="bob")
    response = client.post(reverse("projects:member-role", args=[project.slug, bob.id]), {"role": "reviewer"}, **HTMX)
    assert response.status_code == 200
    assert Membership.objects.get(id=bob.id).role == "reviewer"
    me = Membership.objects.get(project=project, user=alice)
    refused = client.post(reverse("projects:member-role", args=[project.slug, me.id]), {"role": "viewer"}, **HTMX)
    assert refused.status_code == 400 and "at least one admin" in refused.content.decode()
