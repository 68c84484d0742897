"""Show the portal in the person's own time zone and language."""

from django.urls import reverse
from django.utils import timezone, translation

from billing_portal.timezones import (
    LANGUAGE_SESSION_KEY,
    SESSION_KEY,
    default_time_zone,
    is_valid_zone,
)


class UserTimeZoneMiddleware:
    """Activate the signed-in person's zone and language for the admin (the
    portal).

    The zone comes from the session (written at login and when the person
    changes it), so no query is added to a page. Other paths — the API above
    all — keep UTC: the API writes instants in ISO 8601 UTC (SPEC §8).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._admin_prefix = None

    def __call__(self, request):
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        if request.path.startswith(self._admin_prefix):
            name = request.session.get(SESSION_KEY) or default_time_zone()
            if is_valid_zone(name):
                timezone.activate(name)
            # The language the person chose (Preferences or the header's
            # switch) wins over the browser's, on any browser it signs in from.
            language = request.session.get(LANGUAGE_SESSION_KEY)
            if language and translation.check_for_language(language):
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)
