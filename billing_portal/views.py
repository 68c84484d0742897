"""Small views of the portal itself."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token


def api_token_view(request):
    """Show the user's API token (``Authorization: Token …``); POST replaces it."""

    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        Token.objects.create(user=request.user)
        messages.success(
            request, _("A new API token was created; the old one no longer works.")
        )
        return redirect("admin-api-token")
    token, _created = Token.objects.get_or_create(user=request.user)
    return TemplateResponse(
        request,
        "admin/api_token.html",
        {
            **admin.site.each_context(request),
            "title": _("Your API token"),
            "token": token,
        },
    )
