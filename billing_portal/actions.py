"""A page's action buttons: offered only when they can succeed.

Each button of a page is an ``Action``: its label, its URL and the reasons it
cannot succeed now for this user and this object. The reasons come from the
app's refusal selectors (the same functions its services call under lock), so
a disabled button shows the sentence the service would refuse with; the
template decides nothing (``admin/portal/action.html`` draws it).

An action the user could never take (a read-only ``use`` permission, another
role's work) is not an ``Action`` at all: the page leaves it out and says why
in a note.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from billing_portal.errors import Reason


@dataclass(frozen=True)
class Action:
    label: str
    url: str
    reasons: Sequence[Reason] = field(default_factory=tuple)
    #: Said before the reasons of a disabled button ("Nothing can be
    #: transferred:"); empty: the reasons alone.
    lead: str = ""
    #: A page where the user can do something about it (the pending contract).
    help_url: str = ""
    help_label: str = ""

    @property
    def enabled(self) -> bool:
        return not self.reasons

    @property
    def why(self) -> str:
        """The reasons as one text (a disabled button's tooltip)."""
        sentences = " ".join(str(r.message) for r in self.reasons)
        return f"{self.lead} {sentences}".strip()


def action(label, url: str, reasons=(), **kwargs) -> Action:
    """An ``Action`` whose reasons are every refusal of the selector(s)."""
    return Action(label=str(label), url=url, reasons=tuple(reasons), **kwargs)
