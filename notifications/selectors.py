"""Read paths for notifications, always scoped to their recipient."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import Notification


def notifications_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Notification]:
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.pk)


def unread_count_for_user(user: AbstractBaseUser | AnonymousUser) -> int:
    return notifications_for_user(user).filter(read_at__isnull=True).count()
