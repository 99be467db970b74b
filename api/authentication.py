"""`Authorization: Bearer <key>`: the request acts as the key's user (docs/architecture.md, "API")."""

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from api.keys import api_key_find, api_key_touch


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
        return key.user, key

    def authenticate_header(self, request):
        return self.keyword
