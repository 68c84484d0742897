"""``{% section_crumb opts %}``: the breadcrumb of a model's task section."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

from billing_portal.navigation import section_of

register = template.Library()


@register.simple_tag
def section_crumb(opts):
    """A link to the section of the menu the model is listed under (the
    sidebar's title), in place of Django's app name."""
    slug, title = section_of(opts.model)
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:section", kwargs={"section": slug}), title
    )
