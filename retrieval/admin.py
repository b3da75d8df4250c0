"""Admin: stored vectors (read-only) and a staff page to try a search against a chatbot."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from botsmith.models import Chatbot
from retrieval.models import Embedding
from retrieval.services.search import MODES, search


class TrySearchForm(forms.Form):
    chatbot = forms.ModelChoiceField(queryset=Chatbot.objects.order_by("name"))
    q = forms.CharField(label="Question", max_length=1000)
    mode = forms.ChoiceField(choices=[(m, m) for m in MODES], initial="hybrid")
    k = forms.IntegerField(min_value=1, max_value=50, initial=10)


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ("content_hash", "model_key", "created_at")
    list_filter = ("model_key",)
    search_fields = ("content_hash",)
    readonly_fields = ("model_key", "content_hash", "created_at")
    exclude = ("vector",)
    change_list_template = "admin/retrieval/embedding_changelist.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path("try-search/", self.admin_site.admin_view(self.try_search), name="retrieval_try_search"),
            *super().get_urls(),
        ]

    def try_search(self, request: HttpRequest) -> HttpResponse:
        """Staff only (``admin_view``): run a search as the chatbot's runtime would and show the hits."""
        form = TrySearchForm(request.GET or None)
        result = None
        if form.is_valid():
            data = form.cleaned_data
            result = search(data["chatbot"], data["q"], k=data["k"], mode=data["mode"])
        context = {
            **self.admin_site.each_context(request), "title": "Try a search", "form": form, "result": result,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/retrieval/try_search.html", context)
