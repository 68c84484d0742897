"""The product catalogue (SPEC §5): the codes a pool's scope may name. Everyone
signed in reads it; operators add to it."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from billing_portal.api import StrictSerializer, require_operator, validate
from billing_portal.text import validate_display_name

from .. import selectors, services
from ..models import Product
from .schema import refusals


class ProductIn(StrictSerializer):
    code = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        max_length=64,
        error_messages={
            "invalid": _(
                "A product code is made of letters, digits, dots, underscores, "
                "colons and hyphens, and starts with a letter or a digit."
            )
        },
    )
    name = serializers.CharField(max_length=200, validators=[validate_display_name])


class ProductOut(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "code", "name"]


class ProductListCreateApi(generics.ListAPIView):
    serializer_class = ProductOut

    def get_queryset(self):
        return selectors.list_products()

    @extend_schema(
        request=ProductIn,
        responses={
            201: ProductOut,
            403: refusals("no_permission (operators only)"),
            409: refusals("product_code_taken"),
        },
    )
    def post(self, request):
        data = validate(ProductIn, request)
        require_operator(request.user)
        product = services.create_product(actor=request.user, **data)
        return Response(ProductOut(product).data, status=status.HTTP_201_CREATED)
