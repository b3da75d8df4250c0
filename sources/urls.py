"""API routes of the sources app."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from sources.views import ChatbotSourceList, SourceViewSet, UploadView, WebsiteView

router = SimpleRouter()
router.register("sources", SourceViewSet, basename="source")

urlpatterns = [
    path("chatbots/<int:chatbot_id>/sources/upload/", UploadView.as_view(), name="source-upload"),
    path("chatbots/<int:chatbot_id>/sources/website/", WebsiteView.as_view(), name="source-website"),
    path("chatbots/<int:chatbot_id>/sources/", ChatbotSourceList.as_view(), name="chatbot-sources"),
    path("", include(router.urls)),
]
