import pytest
from django.core.exceptions import ValidationError

from apps.projects.models import ApiKey, Membership, Project
from apps.projects.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    demo_seed,
    key_hash,
    membership_remove,
    membership_set,
    project_create,
)

pytestmark = pytest.mark.django_db


def test_project_create_derives_a_unique_slug_and_makes_the_owner_admin(alice):
    first = project_create(name="Support Bot", owner=alice)
    second = project_create(name="Support Bot", owner=alice)
    assert (first.slug, second.slug) == ("support-bot", "support-bot-2")
    assert Membership.objects.get(project=first, user=alice).role == Membership.Role.ADMIN


def test_project_create_rejects_a_blank_name():
    with pytest.raises(ValidationError) as exc:
        project_create(name="   ")
    assert "name" in exc.value.message_dict


def test_api_key_is_stored_only_as_a_hash(project):
    issued = api_key_create(project=project, name="ingest")
    row = ApiKey.objects.get(id=issued.api_key.id)
    assert issued.plaintext.startswith("sl_w_")
    assert issued.plaintext not in (row.key_hash, row.prefix, row.name)
    assert row.key_hash == key_hash(issued.plaintext)
    assert issued.plaintext.startswith(row.prefix)


def test_api_key_authenticate_resolves_the_project_and_records_use(project):
    issued = api_key_create(project=project, name="ingest")
    found = api_key_authenticate(plaintext=issued.plaintext)
    assert found is not None and found.project == project
    assert ApiKey.objects.get(id=issued.api_key.id).last_used_at is not None


def test_api_key_authenticate_rejects_wrong_and_revoked_keys(project):
    issued = api_key_create(project=project, name="ingest")
    tampered = issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")
    assert api_key_authenticate(plaintext=tampered) is None
    assert api_key_authenticate(plaintext="") is None
    assert api_key_revoke(project=project, api_key_id=issued.api_key.id) is True
    assert api_key_revoke(project=project, api_key_id=issued.api_key.id) is False  # twice is harmless
    assert api_key_authenticate(plaintext=issued.plaintext) is None


def test_api_key_revoke_cannot_reach_another_projects_key(project, carol):
    other = project_create(name="Other", owner=carol)
    issued = api_key_create(project=other, name="theirs")
    assert api_key_revoke(project=project, api_key_id=issued.api_key.id) is False
    assert api_key_authenticate(plaintext=issued.plaintext) is not None


def test_membership_set_and_last_admin_protection(project, alice, carol):
    membership = membership_set(project=project, username="carol", role="reviewer")
    assert membership.role == Membership.Role.REVIEWER
    with pytest.raises(ValidationError):
        membership_set(project=project, username="nobody", role="viewer")
    with pytest.raises(ValidationError):
        membership_set(project=project, username="carol", role="owner")
    admin = Membership.objects.get(project=project, user=alice)
    with pytest.raises(ValidationError):
        membership_remove(project=project, membership_id=admin.id)
    membership_remove(project=project, membership_id=membership.id)
    assert not Membership.objects.filter(project=project, user=carol).exists()


def test_demo_seed_runs_once():
    first = demo_seed(username="admin", password="pw-demo-123")
    second = demo_seed(username="admin", password="pw-demo-123")
    assert first.created and first.plaintext_key
    assert not second.created and second.plaintext_key is None
    assert Project.objects.filter(slug="demo").count() == 1
    assert api_key_authenticate(plaintext=first.plaintext_key).project.slug == "demo"
