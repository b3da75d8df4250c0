"""Root URLs: the admin, the API and the Prometheus metrics."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from botsmith.views import MetricsView

admin.site.site_header = "BotSmith administration"
admin.site.site_title = "BotSmith"

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/", include("botsmith.api")),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
# No /media/ route, not even with DEBUG: uploaded files are private and never served as files.
