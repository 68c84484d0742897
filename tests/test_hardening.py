"""Audit and hardening (issue 12): change history with its author, shown on
the object's History page and scoped like the object; login lockout; throttled
money calls; the API token shown once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Contract
from sharing.models import Asset, Share
from sharing.services import expire_assets, provision_asset
from tests.api.helpers import API
from tests.credit_helpers import set_quota
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def history_page(client, admin_path: str) -> str:
    response = client.get(f"/admin/{admin_path}/history/")
    assert response.status_code == 200
    return response.content.decode()


# --- change history ----------------------------------------------------------------


def test_a_credit_limit_change_is_in_the_history_with_its_actor(
    company, make_account, operator, owner, grant, client_for, client
):
    main = make_account(name="Main")
    grant(owner, main, "owner")
    set_quota(company, "1000.00", actor=operator)
    api = client_for(owner)
    url = f"{API}/accounts/{main.pk}/credit-limit/"
    assert api.put(url, {"amount": "300.00"}, format="json").status_code == 200
    contract = Contract.objects.get(account=main)
    confirmed = api.post(f"{API}/contracts/{contract.pk}/confirm/", format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert api.put(url, {"amount": "450.50"}, format="json").json()["status"] == (
        "active"
    )

    rows = list(main.history.order_by("history_date", "history_id"))
    limits = [(r.credit_limit, r.history_user) for r in rows]
    assert limits == [
        (Decimal("0.00"), None),  # created by the factory, outside a request
        (Decimal("300.00"), owner),  # the owner confirmed the contract
        (Decimal("450.50"), owner),
    ]
    # The cached balances are the ledger's, not history's.
    assert not hasattr(rows[0], "own_cash")
    # The contract's own history: created pending, then confirmed by the owner.
    assert [(r.status, r.history_user) for r in contract.history.order_by("pk")] == [
        ("pending", owner),
        ("confirmed", owner),
    ]

    client.force_login(owner)
    page = history_page(client, f"accounts/account/{main.pk}")
    assert "Credit limit</strong>: 300.00 → 450.50" in page
    assert "Credit limit</strong>: 0.00 → 300.00" in page
    assert ">owner<" in page
    # The contract's rows appear on the account's page too.
    assert f"contract #{contract.pk}" in page.lower()


def test_a_share_is_in_the_assets_history_with_its_actor(
    company, make_account, operator, owner, grant, client_for, client
):
    plan_owner, recipient = make_account(name="Owner"), make_account(name="B")
    grant(owner, plan_owner, "owner")
    plan = provision_asset(
        type=Asset.Type.SAVINGS_PLAN,
        owner=plan_owner,
        commitment_per_hour=Decimal("2.00"),
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=30),
        actor=operator,
    )
    shared = client_for(owner).post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [recipient.pk]}, format="json"
    )
    assert shared.status_code == 201, shared.content
    share = Share.objects.get(asset=plan)
    [row] = share.history.all()
    assert (row.history_type, row.history_user, row.status) == ("+", owner, "active")
    [period] = plan.periods.all()
    assert period.history.get().history_user == owner
    assert plan.history.get().history_user == operator  # provisioned

    client.force_login(owner)
    page = history_page(client, f"sharing/asset/{plan.pk}")
    assert f"share #{share.pk}" in page.lower()
    assert f"share period #{period.pk}" in page.lower()
    assert "B (" in page  # the recipient's name, not its id
    page = history_page(client, f"sharing/share/{share.pk}")
    assert "Status</strong>: — → Active" in page


def test_a_pool_approval_is_in_the_history_with_its_actor(
    make_pool, operator, company_cbm, client
):
    pool = make_pool(approve=False)
    client.force_login(operator)
    approved = client.post(
        f"/admin/coupons/creditpool/{pool.pk}/approve/",
        {"confirm": "yes", "confirmation_token": "t" * 32},
    )
    assert approved.status_code == 302, approved.content
    rows = list(pool.history.order_by("history_date", "history_id"))
    assert [(r.status, r.history_user) for r in rows] == [
        ("requested", company_cbm),
        ("approved", operator),
    ]
    page = history_page(client, f"coupons/creditpool/{pool.pk}")
    assert "Status</strong>: Requested → Approved" in page
    assert ">op<" in page


def test_another_companys_history_answers_like_a_missing_id(
    make_account, owner, grant, client
):
    mine = make_account(name="Mine")
    grant(owner, mine, "owner")
    theirs = AccountFactory(company=CompanyFactory(name="Globex"), name="Theirs")
    client.force_login(owner)

    missing = client.get("/admin/accounts/account/999999/history/")
    other = client.get(f"/admin/accounts/account/{theirs.pk}/history/")

    assert other.status_code == missing.status_code == 302
    assert other["Location"] == missing["Location"] == "/admin/"
    assert client.get(f"/admin/accounts/account/{mine.pk}/history/").status_code == 200


def test_an_expiry_is_recorded_without_an_author(make_account, operator):
    account = make_account()
    plan = provision_asset(
        type=Asset.Type.SAVINGS_PLAN,
        owner=account,
        commitment_per_hour=Decimal("1.00"),
        valid_from=NOW - timedelta(days=2),
        valid_until=NOW - timedelta(days=1),
        actor=operator,
    )
    assert expire_assets() == 1
    latest = plan.history.order_by("-history_date").first()
    assert (latest.status, latest.history_user) == ("expired", None)


def test_history_of_a_user_never_named_admin_is_not_for_customers(client):
    user = UserFactory(username="nobody")
    client.force_login(user)
    assert client.get(f"/admin/auth/user/{user.pk}/history/").status_code == 403
