"""Read paths of the analytics app, every one scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from analytics.models import AnalyticsReport
from botsmith.models import Chatbot, Conversation

User = AbstractBaseUser | AnonymousUser


def reports_for_user(user: User) -> QuerySet[AnalyticsReport]:
    if not user.is_authenticated:
        return AnalyticsReport.objects.none()
    return AnalyticsReport.objects.filter(chatbot__owner_id=user.pk).select_related("chatbot")


def reports_for_chatbot(chatbot: Chatbot) -> QuerySet[AnalyticsReport]:
    return AnalyticsReport.objects.filter(chatbot=chatbot).defer("data")


def get_report_for_user(user: User, report_id: Any) -> AnalyticsReport:
    return get_object_or_404(reports_for_user(user), pk=report_id)


def find_report_by_task_id(user: User, task_id: str) -> AnalyticsReport | None:
    """For GET /api/tasks/{id}/: the user's report made by that task (any report for staff)."""
    if not user.is_authenticated or not task_id:
        return None
    queryset = AnalyticsReport.objects.all() if getattr(user, "is_staff", False) else reports_for_user(user)
    return queryset.filter(task_id=task_id).first()


def conversations_for_user(user: User) -> QuerySet[Conversation]:
    if not user.is_authenticated:
        return Conversation.objects.none()
    return Conversation.objects.filter(chatbot__owner_id=user.pk)


def get_conversation_for_user(user: User, conversation_id: Any) -> Conversation:
    return get_object_or_404(conversations_for_user(user), pk=conversation_id)
