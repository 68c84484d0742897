"""The API of coupon credit pools (SPEC §5, §8): the product catalogue
(``products``), pools — a CBM's request, an operator's decision, coupons issued
from them (``pools``) — and the coupons, read and revoked (``coupons``). Thin:
validate, check permission, call one service.

Check order (SPEC §8): the object in the path among those the user sees (404)
→ the body (400; a referenced object out of reach reads as a missing id) →
permission (403) → ``Idempotency-Key`` on the POSTs that move money → the
service's business rules (409).
"""
