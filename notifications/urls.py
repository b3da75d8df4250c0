"""API routes of the notifications app."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from .views import NotificationViewSet

# SimpleRouter, not DefaultRouter: this module is included at /api/ next to the core router, and a
# second DefaultRouter would answer /api/ itself with a root view listing only notifications.
router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = router.urls
