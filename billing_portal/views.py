"""Small views of the portal itself."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.authtoken.models import Token

from billing_portal.models import UserPreference
from billing_portal.timezones import SESSION_KEY, default_time_zone, zone_choices


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


def get_time_zone(user) -> str:
    """The zone this person reads times in (the default when never chosen)."""
    chosen = (
        UserPreference.objects.filter(user=user)
        .values_list("time_zone", flat=True)
        .first()
    )
    return chosen or default_time_zone()


def remember_time_zone(sender, request, user, **kwargs):
    """At login, keep the person's zone in the session (no query per page)."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = get_time_zone(user)


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
    """The person's time zone (kept per user) and language (kept in a cookie)."""
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
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
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
