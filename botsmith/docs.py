"""Self-hosted API docs (Swagger UI, Redoc) served under a Content-Security-Policy limited to this origin."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# The assets come from drf-spectacular-sidecar through our own static files, and the Swagger UI
# start-up script is a separate request (the split view), so no script needs 'unsafe-inline' or a
# third-party origin. Both UIs set inline styles; Redoc runs its search index in a blob: worker.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class _DocsPolicy(APIView):
    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerDocsView(_DocsPolicy, SpectacularSwaggerSplitView):
    pass


class RedocDocsView(_DocsPolicy, SpectacularRedocView):
    # drf-spectacular's own template pulls web fonts from Google; ours uses only local assets.
    template_name = "botsmith/redoc.html"
