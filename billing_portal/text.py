"""Names people type and others read: printable characters only.

A name (account, folder, company) is shown in screens, CSV exports, SMS and
logs. Control characters (bell, escape sequences, line breaks, tabs),
invisible formatting characters (direction overrides, zero-width spaces,
soft hyphens) and names with nothing visible in them make it mislead or break
what shows it, so they are refused at input, with the field named.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Zero-width (non-)joiners are part of how Persian, Indic scripts and emoji
# sequences are written: allowed inside a name, not as its only content.
_JOINERS = {"\u200c", "\u200d"}
# Letters and symbols that render as nothing (Hangul fillers, blank braille).
_BLANK_LOOKING = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
# Control, surrogate, format, line and paragraph separator characters.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Cf", "Zl", "Zp"}


def validate_display_name(value: str) -> None:
    """Refuse control and invisible characters, and names with nothing visible."""
    for char in value:
        if char in _JOINERS:
            continue
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValidationError(
                _(
                    "Use printable characters only: no line breaks, tabs, control "
                    "or invisible formatting characters (U+%(code)04X)."
                ),
                code="unprintable",
                params={"code": ord(char)},
            )
    if not any(_is_visible(char) for char in value):
        raise ValidationError(
            _("Enter a name with at least one visible character."), code="invisible"
        )


def _is_visible(char: str) -> bool:
    return (
        unicodedata.category(char)[0] in "LNPS"
        and char not in _BLANK_LOOKING
        and not char.isspace()
    )
