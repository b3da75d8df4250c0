"""The /api/ URL tree: the core routes plus each app's own urls."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from .docs import RedocDocsView, SwaggerDocsView
from .task_status import TaskStatusView
from .views import ChatbotViewSet, HealthView, LivenessView

router = DefaultRouter()
router.register("chatbots", ChatbotViewSet, basename="chatbot")

urlpatterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
    path("tasks/<str:task_id>/", TaskStatusView.as_view(), name="task-status"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SwaggerDocsView.as_view(url_name="schema"), name="docs"),
    path("redoc/", RedocDocsView.as_view(url_name="schema"), name="redoc"),
    path("", include("sources.urls")),
    path("", include("notifications.urls")),
    path("", include("analytics.urls")),
    path("", include("retrieval.urls")),
    path("", include(router.urls)),
]
