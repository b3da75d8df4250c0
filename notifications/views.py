"""API views of the notifications app: the user's own notifications and their read state."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Notification
from .selectors import notifications_for_user, unread_count_for_user
from .serializers import MarkedSerializer, NotificationSerializer, UnreadCountSerializer
from .services import mark_notification_read, mark_notifications_read

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only unread; false: only read.")
        ]
    )
)
class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The requesting user's notifications, newest first; another user's notification is a 404."""

    serializer_class = NotificationSerializer

    def get_queryset(self) -> QuerySet[Notification]:
        queryset = notifications_for_user(self.request.user)
        if self.action == "list":
            unread = self.request.query_params.get("unread")
            if unread is not None:
                value = unread.strip().lower()
                if value not in _TRUE | _FALSE:
                    raise serializers.ValidationError({"unread": "Use true or false."})
                queryset = queryset.filter(read_at__isnull=value in _TRUE)
        return queryset

    @extend_schema(request=None, responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        return Response({"unread": unread_count_for_user(request.user)})

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = mark_notification_read(self.get_object())
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=MarkedSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        return Response({"marked": mark_notifications_read(notifications_for_user(request.user))})
