"""``check_ledger``'s checks of coupon pools: the sums of SPEC §5 hold."""

from django.db import connection


def check_pools() -> list[str]:
    """Pool: remaining = approved amount - issued + revoked back (nothing before
    approval). Coupon: face = remaining + deducted + revoked."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT id, remaining, amount, issued_amount, revoked_amount
              FROM coupons_creditpool
             WHERE remaining <> CASE WHEN status IN ('approved', 'expired')
                   THEN amount - issued_amount + revoked_amount ELSE 0 END
             ORDER BY id
            """
        )
        problems = [
            f"pool {pk}: remaining {rem}, total {amount} - issued {issued} + "
            f"revoked {revoked}"
            for pk, rem, amount, issued, revoked in cur
        ]
        cur.execute(
            """
            SELECT c.id, c.face_value, a.remaining, coalesce(sum(d.amount), 0),
                   c.revoked_amount
              FROM coupons_coupon c
              JOIN sharing_asset a ON a.id = c.asset_id
              LEFT JOIN sharing_deduction d ON d.asset_id = a.id
             GROUP BY c.id, a.remaining
            HAVING c.face_value <> a.remaining + coalesce(sum(d.amount), 0)
                   + c.revoked_amount
             ORDER BY c.id
            """
        )
        problems += [
            f"coupon {pk}: face {face}, remaining {rem} + deducted {ded} + "
            f"revoked {rev}"
            for pk, face, rem, ded, rev in cur
        ]
    return problems
