"""Root URLs: the admin, the API and the Prometheus metrics."""

from django.conf import settings
from django.conf.urls.static import static
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
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
