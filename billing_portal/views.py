"""Small views of the portal itself."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import check_for_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language
from rest_framework.authtoken.models import Token

from .admin_base import (
    PORTAL_WORDING,
    TOKEN_PREFIX,
    confirmation_token,
    new_confirmation_token,
)
from .idempotency import fingerprint, run_once
from .models import UserPreference
from .timezones import (
    LANGUAGE_SESSION_KEY,
    SESSION_KEY,
    default_time_zone,
    is_valid_zone,
    zone_choices,
)

#: Characters of a token shown on later visits: enough to tell two apart.
SHOWN_PREFIX = 6


def masked(key: str) -> str:
    return key[:SHOWN_PREFIX] + "•" * 10


@never_cache
def api_token_view(request):
    """The user's API token (``Authorization: Token …``), shown once.

    The whole key appears only in the answer to the POST that created or
    replaced it; later visits show its first characters. Replacing is a review
    page and a confirming POST carrying a one-time token (the portal's
    confirmation pattern, ``admin_base``): a replayed confirmation replaces
    nothing again and shows the first result without the key, which is never
    stored anywhere but in the token table.
    """
    user = request.user
    token = Token.objects.filter(user=user).first()
    context = {
        **admin.site.each_context(request),
        "title": _("Your API token"),
        "token": token,
        "prefix": masked(token.key) if token else None,
    }

    def page(**extra):
        return TemplateResponse(request, "admin/api_token.html", {**context, **extra})

    if request.method == "POST" and request.POST.get("action") == "create":
        if token is not None:
            return page()  # one exists already: created elsewhere, not shown
        with transaction.atomic():
            token, created = Token.objects.get_or_create(user=user)
        if not created:
            return page(token=token, prefix=masked(token.key))
        return page(
            token=token,
            prefix=masked(token.key),
            new_key=token.key,
            done=_("Your API token was created. Copy it now: it is not shown again."),
        )

    once = confirmation_token(request)
    if once is not None:
        shown = {}

        def replace():
            Token.objects.filter(user=user).delete()
            new = Token.objects.create(user=user)
            shown["key"] = new.key
            return 200, {"prefix": masked(new.key)}

        status, body = run_once(
            user=user,
            key=TOKEN_PREFIX + once,
            fingerprint=fingerprint(request, {"action": "replace_api_token"}),
            action=replace,
            wording=PORTAL_WORDING,
        )
        if status >= 300:
            return page(refusal=body["reasons"][0]["message"])
        token = Token.objects.filter(user=user).first()
        if "key" not in shown:
            return page(
                token=token,
                prefix=body["prefix"],
                done=_(
                    "This confirmation was already used: the token was replaced "
                    "then and is not shown again."
                ),
            )
        return page(
            token=token,
            prefix=body["prefix"],
            new_key=shown["key"],
            done=_(
                "A new API token was created; the old one no longer works. Copy "
                "it now: it is not shown again."
            ),
        )

    if request.GET.get("replace") == "1" and token is not None:
        return page(review=True, confirmation_token=new_confirmation_token())
    return page()


def get_time_zone(user) -> str:
    """The zone this person reads times in (the default when never chosen)."""
    chosen = (
        UserPreference.objects.filter(user=user)
        .values_list("time_zone", flat=True)
        .first()
    )
    return chosen or default_time_zone()


def remember_time_zone(sender, request, user, **kwargs):
    """At login, keep the person's zone and language in the session (no query
    per page)."""
    if request is not None and hasattr(request, "session"):
        preference = UserPreference.objects.filter(user=user).first()
        request.session[SESSION_KEY] = (
            preference.time_zone
            if preference and is_valid_zone(preference.time_zone)
            else default_time_zone()
        )
        if preference and preference.language:
            request.session[LANGUAGE_SESSION_KEY] = preference.language


def _keep_language(request, response, language: str) -> None:
    """The person's language: kept per user, in the session and in the cookie
    (the cookie serves the login page, before anyone is known)."""
    if request.user.is_authenticated:
        UserPreference.objects.update_or_create(
            user=request.user, defaults={"language": language}
        )
        request.session[LANGUAGE_SESSION_KEY] = language
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )


@require_POST
def switch_language(request):
    """The header's language switch: Django's ``set_language``, and for a
    signed-in person the choice is kept with its preferences (any browser)."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if check_for_language(language) and language in dict(settings.LANGUAGES):
        _keep_language(request, response, language)
    return response


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        choices=zone_choices,
        help_text=gettext_lazy(
            "Times in the portal are shown in this zone, labelled with its "
            "abbreviation (CST is China Standard Time, UTC+08:00). The API "
            "always answers in UTC."
        ),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=settings.LANGUAGES,
        help_text=gettext_lazy("Also switched from the link at the top right."),
    )


def preferences_view(request):
    """The person's time zone and language (both kept per user)."""
    current = {
        "time_zone": get_time_zone(request.user),
        "language": request.LANGUAGE_CODE,
    }
    form = PreferencesForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        zone = form.cleaned_data["time_zone"]
        UserPreference.objects.update_or_create(
            user=request.user, defaults={"time_zone": zone}
        )
        request.session[SESSION_KEY] = zone
        language = form.cleaned_data["language"]
        response = redirect("admin-preferences")
        _keep_language(request, response, language)
        timezone.activate(zone)
        messages.success(
            request,
            _("Preferences saved: times are shown in %(zone)s.") % {"zone": zone},
        )
        return response
    return TemplateResponse(
        request,
        "admin/preferences.html",
        {
            **admin.site.each_context(request),
            "title": _("Preferences"),
            "form": form,
            "now": timezone.now(),
        },
    )


def permission_denied_view(request, exception=None):
    """The portal's 403 page: inside the portal's frame, why, and a way back."""
    context = {
        **admin.site.each_context(request),
        "title": _("You cannot open this page"),
        "back": request.META.get("HTTP_REFERER", ""),
    }
    response = TemplateResponse(request, "admin/403.html", context, status=403)
    return response.render()


def page_not_found_view(request, exception=None):
    """The portal's 404 page: inside the portal's frame, what happened, and a
    way back (the previous page and Home)."""
    context = {
        **admin.site.each_context(request),
        "title": _("Page not found"),
        "back": request.META.get("HTTP_REFERER", ""),
    }
    response = TemplateResponse(request, "admin/404.html", context, status=404)
    return response.render()
