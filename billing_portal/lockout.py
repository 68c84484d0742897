"""Login lockout (django-axes): who the client is, and how a lock is answered.

The admin login answers a locked sign-in with its own page and the reason
(status 429); ``POST /api/v1/auth/token/`` with the API's refusal body
``{"code": "locked_out", "detail", "reasons"}`` (429, ``Retry-After``).
"""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .errors import LoginLockedOut, reason


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, for sign-ins over HTTP only: an ``authenticate()``
    without a request (the test client's ``login``, a script) has no address
    to count and is left to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT``
    proxies the address the outermost of them saw (X-Forwarded-For, counted
    from the right, where a client cannot forge it)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            a.strip()
            for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if a.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def cool_off_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def locked_out(username: str) -> LoginLockedOut:
    """The refusal of a locked sign-in, with the reason sentence."""
    minutes = max(1, cool_off_seconds() // 60)
    return LoginLockedOut(
        [reason("locked_out", username=username or "?", minutes=minutes)]
    )


def locked_out_response(username: str) -> JsonResponse:
    error = locked_out(username)
    response = JsonResponse(error.as_body(), status=error.status)
    response["Retry-After"] = str(cool_off_seconds())
    return response


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the admin's login page with the reason."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    if request.path.startswith("/api/"):
        return locked_out_response(username)
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "app_path": request.get_full_path(),
        "form": AuthenticationForm(request),
        "lockout": locked_out(username).reasons[0].message,
        REDIRECT_FIELD_NAME: request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    response = render(request, "admin/lockout.html", context, status=429)
    response["Retry-After"] = str(cool_off_seconds())
    return response
