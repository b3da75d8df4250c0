"""API routes of retrieval."""

from django.urls import path

from retrieval.views import SearchView

urlpatterns = [
    path("chatbots/<int:chatbot_id>/search/", SearchView.as_view(), name="chatbot-search"),
]
