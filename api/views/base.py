"""What every API view shares: the admin's permissions, Idempotency-Key on POST, the history of writes.

A new endpoint (a viewset) subclasses ApiViewSet (or mixes ApiViewMixin into
an APIView), names its permissions in `action_permissions` where the default
(view / add / change / delete of its model) does not fit, and is registered
on the router in api/urls.py. Errors become problems (api/problems.py) by the
REST_FRAMEWORK setting.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import mixins, viewsets

from api.history import ADDITION, CHANGE, DELETION, history_log
from api.idempotency import HEADER, Replay, idempotency_claim, idempotency_release, idempotency_store

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Send the same key again to get the first answer back; the request is carried out once.",
)


class ApiViewMixin:
    action_permissions: dict[str, list[str]] = {}
    model = None  # the model whose permissions apply, when the view has no queryset

    def permission_model(self):
        return self.model or self.queryset.model

    def initial(self, request, *args, **kwargs):
        self._idempotency = None
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttling first
        if request.method == "POST" and HEADER in request.headers:
            self._idempotency = idempotency_claim(request=request, key=request.headers[HEADER])

    def handle_exception(self, exc):
        if isinstance(exc, Replay):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:
            if getattr(self, "_idempotency", None) is not None:
                idempotency_release(record=self._idempotency)
                self._idempotency = None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency", None)
        if record is not None:
            self._idempotency = None
            idempotency_store(record=record, response=response)
        return response


class ApiViewSet(ApiViewMixin, viewsets.GenericViewSet):
    pass


class ApiModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ApiViewSet,
):
    """A model's CRUD, each write in the admin's history under the key's user (as the admin logs its own)."""

    def perform_create(self, serializer):
        history_log(user=self.request.user, obj=serializer.save(), flag=ADDITION, message="Added")

    def perform_update(self, serializer):
        history_log(user=self.request.user, obj=serializer.save(), flag=CHANGE, message="Changed")

    def perform_destroy(self, instance):
        history_log(user=self.request.user, obj=instance, flag=DELETION, message="Deleted")
        instance.delete()
