"""Names people type and others read: printable characters only.

A name (account, folder, company) is shown in screens, CSV exports, SMS and
logs. Control characters (bell, escape sequences, line breaks, tabs),
invisible formatting characters (direction overrides, zero-width spaces,
soft hyphens) and names with nothing visible in them make it mislead or break
what shows it, so they are refused at input, with the field named.
"""

import unicodedata

from django import forms
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


class DisplayNameField(forms.CharField):
    """A name's form field, its length checked here in characters only.

    The browser's ``maxlength`` counts UTF-16 units: an emoji or a rare CJK
    character counts twice, so a name within the limit would be cut silently
    as it is typed. Without the attribute the whole name reaches the server,
    which refuses one that is too long with the field named.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("validators", [])
        if validate_display_name not in kwargs["validators"]:
            kwargs["validators"] = [*kwargs["validators"], validate_display_name]
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        return attrs
