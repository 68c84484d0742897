"""Links to other objects only where the reader may open them.

Django's admin renders every read-only related object (``Created by``,
``Account``, ``Decided by``) as a link to its change page, whoever reads it:
a customer clicking "Created by: alice" reached a 403 (only superusers open
user records), and an account out of the reader's reach answered "doesn't
exist". Here such a value is a link only when the object's own admin would
show it to this reader; otherwise it is its name, as plain text.
"""

from django import template
from django.contrib.admin.utils import lookup_field
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import ForeignObjectRel
from django.utils.html import conditional_escape

register = template.Library()


def may_open(request, admin_site, obj) -> bool:
    """Whether ``obj``'s change page answers this reader with the object (its
    admin lets the reader view it and its scope includes it)."""
    model = type(obj)
    if not admin_site.is_registered(model):
        return False
    model_admin = admin_site.get_model_admin(model)
    return (
        model_admin.has_view_or_change_permission(request, obj)
        and model_admin.get_queryset(request).filter(pk=obj.pk).exists()
    )


@register.simple_tag(takes_context=True)
def readonly_contents(context, field):
    """A read-only field's contents (``AdminReadonlyField.contents``), with a
    related object linked only when the reader may open it."""
    request = context.get("request")
    model_admin = field.model_admin
    try:
        f, _attr, value = lookup_field(
            field.field["field"], field.form.instance, model_admin
        )
    except (AttributeError, ValueError, ObjectDoesNotExist):
        return field.contents()
    related = f is not None and isinstance(f.remote_field, ForeignObjectRel)
    if not related or value is None or request is None:
        return field.contents()
    if may_open(request, model_admin.admin_site, value):
        return field.contents()
    return conditional_escape(str(value))
