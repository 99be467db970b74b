"""The admin's Django permissions, unchanged, for every API call (docs/architecture.md, "API").

A view names the permissions each action needs in `action_permissions`
(action -> permission codenames, "app.codename"); by default a read needs the
model's `view_`, a create `add_`, an update `change_`, a delete `delete_`, and
any other write `change_`. The request acts as the key's user: a viewer's key
reads, a manager's key acts.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

DEFAULT = {"list": "view", "retrieve": "view", "create": "add", "update": "change", "partial_update": "change",
           "destroy": "delete"}  # fmt: skip


def required_permissions(view, request) -> list[str]:
    action = getattr(view, "action", None)
    explicit = getattr(view, "action_permissions", {})
    if action in explicit:
        return list(explicit[action])
    model = view.permission_model()
    verb = DEFAULT.get(action) or ("view" if request.method in SAFE_METHODS else "change")
    return [f"{model._meta.app_label}.{verb}_{model._meta.model_name}"]


class ModelPermissions(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if request.method == "OPTIONS":
            return True
        return user.has_perms(required_permissions(view, request))
