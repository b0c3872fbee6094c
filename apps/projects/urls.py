from django.urls import path

from apps.projects import views

app_name = "projects"

urlpatterns = [
    path("projects/new/", views.project_create_view, name="create"),
    path("p/<slug:project_slug>/settings/", views.project_settings_view, name="settings"),
    path("p/<slug:project_slug>/settings/keys/", views.api_key_create_view, name="key-create"),
    path("p/<slug:project_slug>/settings/retention/", views.project_retention_set_view, name="retention-set"),
    path("p/<slug:project_slug>/settings/keys/<int:api_key_id>/revoke/", views.api_key_revoke_view, name="key-revoke"),
    path("p/<slug:project_slug>/settings/members/", views.membership_set_view, name="member-set"),
    path(
        "p/<slug:project_slug>/settings/members/<int:membership_id>/remove/",
        views.membership_remove_view,
        name="member-remove",
    ),
    path(
        "p/<slug:project_slug>/settings/members/<int:membership_id>/role/",
        views.membership_role_view,
        name="member-role",
    ),
    path("p/<slug:project_slug>/settings/users/", views.user_create_view, name="user-create"),
    path("p/<slug:project_slug>/settings/invitations/", views.invitation_create_view, name="invitation-create"),
    path(
        "p/<slug:project_slug>/settings/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path("invite/<str:token>/", views.invitation_accept_view, name="invitation-accept"),
]
