"""API routes of the analytics app: reports, and recording conversations and messages."""

from __future__ import annotations

from django.urls import path

from analytics.recording import ChatbotConversationList, ConversationMessageList
from analytics.views import ChatbotReportList, ReportCsvExport, ReportDetail

urlpatterns = [
    path("chatbots/<int:chatbot_id>/reports/", ChatbotReportList.as_view(), name="chatbot-reports"),
    path("reports/<int:pk>/", ReportDetail.as_view(), name="report-detail"),
    path("reports/<int:pk>/export.csv", ReportCsvExport.as_view(), name="report-export-csv"),
    path("chatbots/<int:chatbot_id>/conversations/", ChatbotConversationList.as_view(),
         name="chatbot-conversations"),
    path("conversations/<int:conversation_id>/messages/", ConversationMessageList.as_view(),
         name="conversation-messages"),
]
