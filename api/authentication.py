"""`Authorization: Bearer <key>`: the request acts as the key's user (docs/architecture.md, "API")."""

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from api.keys import api_key_find, api_key_touch


def preload_permissions(user) -> None:
    """The user's permissions (own and groups') in one query, where ModelBackend reads them in two.

    Django's ModelBackend keeps them on the user object as `_perm_cache`
    ("app_label.codename"), and reads that first; the result is the same set.
    A key's user is loaded afresh for every request, so a permission change
    applies from the next request on, as in the admin.
    """
    if not user.is_active or user.is_superuser or hasattr(user, "_perm_cache"):
        return
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    rows = (
        Permission.objects.filter(Q(user=user) | Q(group__user=user))
        .order_by()
        .values_list("content_type__app_label", "codename")
        .distinct()
    )
    user._perm_cache = {f"{app}.{codename}" for app, codename in rows}


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw or " " in raw:
            raise exceptions.AuthenticationFailed(_("Send the key as: Authorization: Bearer <key>."))
        key = api_key_find(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        api_key_touch(key=key, now=timezone.now())
        preload_permissions(key.user)
        return key.user, key

    def authenticate_header(self, request):
        return self.keyword
