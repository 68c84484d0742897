"""Coupon credit pools in the admin (issue 11, SPEC §5-§6): pools, coupons, the
product catalogue, and the pools' section of the Contracts view (registered in
``settings.CONTRACTS_VIEW_SECTIONS``)."""

from . import coupons, pools, products  # noqa: F401 (they register the admins)
from .contracts import contracts_section  # noqa: F401
