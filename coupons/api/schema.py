"""What the schema says of these endpoints beyond ``billing_portal.schema``:
the Idempotency-Key header and, per operation, which refusals it gives."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from billing_portal.schema import RefusalOut

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Makes the request at most once per user and key (SPEC §8): the "
    "same request again gets the first answer (2xx or 409); another request "
    "with the key, 409 idempotency_key_reused. 1 to 255 characters, not blank.",
)


def refusals(codes: str) -> OpenApiResponse:
    """A 403 or 409 body, naming the reason codes the operation can give."""
    return OpenApiResponse(RefusalOut, description=f"Refused: {codes}.")
