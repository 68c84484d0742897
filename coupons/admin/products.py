"""The product catalogue (operators): the codes a pool's scope may name."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.admin_base import ScopedAdmin

from .. import services
from ..forms import ProductForm
from ..models import Product


@admin.register(Product)
class ProductAdmin(ScopedAdmin):
    """Operators add and rename products; a code stays (pools name it)."""

    customer_visible = False
    form = ProductForm
    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    ordering = ["code"]

    def scope(self, user):
        return Product.objects.all()

    def has_add_permission(self, request):
        return roles.is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return roles.is_operator(request.user)

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.save_product(
            code=obj.code,
            name=data["name"],
            actor=request.user,
            product=obj if change else None,
        )
        obj.pk = saved.pk
        obj._state.adding = False

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Product catalogue"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)
