"""The API's root: what an authenticated client can call, with links to the docs."""

from importlib import import_module

from django.urls import URLPattern, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView


@extend_schema(exclude=True)
class ApiRootApi(APIView):
    """``GET /api/v1/``: every endpoint of the router, by path.

    The router module is named in ``urls.py`` (``urlconf``) and read at request
    time, so this helper imports no app.
    """

    urlconf = "billing_portal.api_urls"

    def get(self, request):
        prefix = request.path
        endpoints = [
            prefix + str(p.pattern)
            for p in import_module(self.urlconf).urlpatterns
            if isinstance(p, URLPattern)
        ]
        return Response(
            {
                "endpoints": endpoints,
                "schema": request.build_absolute_uri(reverse("schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
                "authentication": "Authorization: Token <token> (POST "
                f"{prefix}auth/token/, or see it in the portal at "
                f"{reverse('admin-api-token')}), or the portal's session.",
            }
        )
