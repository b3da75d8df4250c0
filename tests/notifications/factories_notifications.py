"""factory_boy factory for notifications."""

from __future__ import annotations

import factory

from notifications.models import Notification, NotificationType
from tests.factories import UserFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Notification {n}")
    message = "Something happened."
    notification_type = NotificationType.INFO
