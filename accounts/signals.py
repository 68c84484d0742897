"""Signals other apps listen to (this app imports none of them)."""

from django.dispatch import Signal

#: Sent after commit when accounts joined or left folders, or a folder moved,
#: in a company's resource directory: ``company_id``. Organization shares
#: follow their folders (SPEC §4.2).
directory_changed = Signal()
