"""Coupon credit pools in the admin (issue 11, SPEC §5, §6): the CBM's request
form and its refusals, the operator's decision, issuance through the form with
its one-time token, the coupon page's "not applying since" and revocation, the
empty state, permissions, and other companies' pools answered like missing ids.
Assertions read the text a customer sees."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from accounts.ledger import find_discrepancies
from accounts.models import FinancialRelationship, Movement
from accounts.services import set_management_account, terminate_relationship
from coupons.models import Coupon, CreditPool, Product
from coupons.services import approve_pool, issue_coupons, request_pool, save_product
from sharing.services import record_usage
from tests.accounts.conftest_admin import (
    MISSING,
    messages_of,
    parse,
    refusal_items,
    result_rows,
    table_rows,
)
from tests.coupon_fixtures import NOW
from tests.credit_helpers import make_cbm
from tests.factories import AccessFactory, AccountFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


_BLOCKS = {"td", "th", "tr", "p", "li", "div", "br", "h1", "h2", "section", "table"}


def _spaced(node) -> str:
    """A node's text as a reader sees it: cells and blocks apart."""
    parts = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag in ("script", "style"):
            continue
        elif child.tag in _BLOCKS:
            parts.append(f" {_spaced(child)} ")
        else:
            parts.append(_spaced(child))
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def text(response) -> str:
    """The page's visible text, whitespace collapsed."""
    return _spaced(parse(response))


def by_id(response, node_id) -> str:
    node = parse(response).find(id=node_id)
    assert node is not None, f"no #{node_id} on the page"
    return _spaced(node)


def confirming(response) -> dict:
    """The hidden fields of the page's confirming form (multi-valued kept)."""
    for form in parse(response).find_all("form"):
        fields: dict[str, list[str]] = {}
        for node in form.find_all("input"):
            name = node.attrs.get("name")
            if node.attrs.get("type") == "hidden" and name != "csrfmiddlewaretoken":
                fields.setdefault(name, []).append(node.attrs.get("value", ""))
        if fields.get("confirmation_token"):
            return fields
    raise AssertionError("the page has no confirming form with a token")


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def products(operator):
    for code, name in (("ecs", "Elastic Compute"), ("oss", "Object Storage")):
        save_product(code=code, name=name, actor=operator)


def request_data(company, **overrides):
    data = {
        "company": company.pk,
        "distribution_target": "enterprise_management_account",
        "product_scope": "some",
        "products": ["ecs", "oss"],
        "bill_types": ["pay_as_you_go"],
        "valid_from": "2026-01-01T00:00",
        "valid_until": (NOW + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M"),
        "amount": "5000.00",
    }
    data.update(overrides)
    return data


def usage(account, amount, *, at=None, n=[0]):  # noqa: B006
    n[0] += 1
    at = at or timezone.now()
    record, _ = record_usage(
        external_id=f"admin-{n[0]}-{account.pk}",
        account=account,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=at,
        usage_end=at + timedelta(minutes=5),
        amount=D(amount),
        billed_at=at + timedelta(hours=1),
    )
    return record


# --- the CBM's request ------------------------------------------------------------


def test_cbm_requests_a_pool_through_the_form_once(
    client, company, cbm, enterprise, products
):
    manager = enterprise[0]
    login(client, cbm)
    form = client.get(url("coupons_creditpool_request"))
    assert form.status_code == 200
    page = text(form)
    assert f"Acme — management account Manager ({manager.uid}, CNY)" in page
    assert "Specify Enterprise Management Account" in page
    assert "The only valid target: a coupon credit pool is distributed to" in page
    assert "Elastic Compute (ecs)" in page

    review = client.post(url("coupons_creditpool_request"), request_data(company))
    assert review.status_code == 200
    summary = by_id(review, "request-summary")
    assert f"Enterprise management account Manager ({manager.uid})" in summary
    assert "Elastic Compute (ecs), Object Storage (oss)" in summary
    assert "Pay as you go" in summary
    assert "Total amount 5000.00 CNY" in summary
    assert not CreditPool.objects.exists()

    fields = confirming(review)
    done = client.post(url("coupons_creditpool_request"), fields, follow=True)
    pool = CreditPool.objects.get()
    assert messages_of(done) == [
        f"Pool #{pool.pk} requested for Acme: 5000.00 CNY, waiting for an "
        "operator's approval."
    ]
    assert done.redirect_chain[-1][0] == url("coupons_creditpool_change", pool.pk)
    assert (pool.status, pool.amount, pool.currency) == ("requested", D("5000"), "CNY")
    assert (pool.products, pool.bill_types) == (["ecs", "oss"], ["pay_as_you_go"])
    assert pool.management_account == manager
    assert "waiting for an operator to approve or reject it" in by_id(done, "status")

    again = client.post(url("coupons_creditpool_request"), fields, follow=True)
    assert CreditPool.objects.count() == 1
    assert messages_of(again) == messages_of(done)


def test_request_form_refuses_with_sentences(
    client, company, cbm, enterprise, products, other_company
):
    login(client, cbm)
    target = url("coupons_creditpool_request")
    errors = text(
        client.post(
            target,
            request_data(
                company,
                products=[],
                valid_until="2025-12-31T00:00",
                amount="1.005",
            ),
        )
    )
    assert "Tick at least one product, or choose all products." in errors
    assert "The validity must end after it starts." in errors
    assert "An amount can have at most 2 decimal places." in errors

    # Another company is unknown to this CBM: not offered, refused as a choice.
    unknown = client.post(target, request_data(other_company))
    assert "Select a valid choice." in text(unknown)

    # A forged distribution target reaches the service, which says why.
    review = client.post(
        target, request_data(company, distribution_target="member_accounts")
    )
    refused = client.post(target, confirming(review))
    assert refusal_items(refused) == [
        'A coupon credit pool must choose the distribution target "Specify '
        'Enterprise Management Account". invalid_distribution_target'
    ]
    assert "The request was refused. Nothing was saved." in text(refused)
    assert not CreditPool.objects.exists()


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_only_a_cbm_may_request_and_others_see_why(
    client, company, cbm, enterprise, who, request
):
    login(client, request.getfixturevalue(who))
    target = url("coupons_creditpool_request")
    for response in (client.get(target), client.post(target, request_data(company))):
        assert response.status_code == 200
        assert refusal_items(response) == [
            "Only the company's customer business manager (CBM) can request a "
            "coupon credit pool. not_cbm"
        ]
    page = text(client.get(target))
    assert "You cannot request a coupon credit pool." in page
    if who == "owner":
        assert "The business manager of Acme is cbm-acme" in page
    assert not CreditPool.objects.exists()


def test_a_cbm_without_a_requestable_company_is_told_why(client, company, cbm):
    login(client, cbm)
    page = text(client.get(url("coupons_creditpool_request")))
    assert "None of your companies can receive a coupon credit pool now." in page
    assert "Acme: it has no enterprise management account" in page
    # The Contracts view greys the button with the same rule's sentence.
    contracts = client.get(url("accounts_contract_changelist")).content.decode()
    button = re.search(r'id="pool-request-action">(.*?)</div>', contracts, re.S)
    assert button is not None
    assert "<a " not in button.group(1)
    assert 'class="button portal-disabled"' in button.group(1)
    assert (
        "None of your companies can receive a coupon credit pool yet: a company "
        "needs to be verified and to have an enterprise management account."
    ) in by_id(client.get(url("accounts_contract_changelist")), "pool-request-action")


def test_a_cbm_with_a_requestable_company_gets_the_request_link(
    client, company, cbm, enterprise
):
    login(client, cbm)
    contracts = client.get(url("accounts_contract_changelist")).content.decode()
    button = re.search(r'id="pool-request-action">(.*?)</div>', contracts, re.S)
    assert button is not None
    assert f'href="{url("coupons_creditpool_request")}"' in button.group(1)


# --- the operator's decision -------------------------------------------------------


def test_operator_approves_once_and_the_pool_becomes_issuable(
    client, make_pool, operator, cbm, owner
):
    pool = make_pool("800.00", approve=False)
    login(client, operator)
    contracts = client.get(url("accounts_contract_changelist"))
    waiting = by_id(contracts, "pools-waiting")
    assert f"#{pool.pk} Acme Manager" in waiting
    assert "800.00 CNY" in waiting

    target = url("coupons_creditpool_decide", pool.pk, "approve")
    review = client.get(target)
    assert "Approve this pool? Its 800.00 CNY becomes issuable" in text(review)
    fields = confirming(review)
    movements = Movement.objects.count()
    done = client.post(target, fields, follow=True)
    assert messages_of(done) == [
        f"Pool #{pool.pk} approved: 800.00 CNY can now be issued as coupons by "
        f"the administrators of Manager ({pool.management_account.uid})."
    ]
    again = client.post(target, fields, follow=True)
    assert messages_of(again) == messages_of(done)
    assert Movement.objects.count() == movements + 1
    pool.refresh_from_db()
    assert (pool.status, pool.remaining, pool.decided_by) == (
        "approved",
        D("800.00"),
        operator,
    )
    assert "Approved by op on" in by_id(done, "status")
    assert "800.00 = 800.00 + 0.00 − 0.00" in by_id(done, "pool-sum")  # noqa: RUF001

    # Decided: the other decision is refused with the state's sentence.
    blocked = client.get(url("coupons_creditpool_decide", pool.pk, "reject"))
    assert refusal_items(blocked) == [
        f"Pool {pool.pk} is no longer waiting for a decision; only a requested "
        "pool can be rejected. invalid_state"
    ]
    assert find_discrepancies() == []


def test_rejection_needs_a_reason_which_is_kept_and_shown(
    client, make_pool, operator, cbm, owner
):
    pool = make_pool(approve=False)
    login(client, operator)
    target = url("coupons_creditpool_decide", pool.pk, "reject")
    empty = client.post(target, {**confirming(client.get(target)), "reason": "  "})
    assert "Say why the pool is rejected." in text(empty)
    assert CreditPool.objects.get(pk=pool.pk).status == "requested"

    fields = {**confirming(empty), "reason": "Budget for this year is closed."}
    done = client.post(target, fields, follow=True)
    assert messages_of(done) == [
        f"Pool #{pool.pk} rejected; the reason is shown on the pool."
    ]
    pool.refresh_from_db()
    assert (pool.status, pool.rejection_reason) == (
        "rejected",
        "Budget for this year is closed.",
    )
    assert by_id(done, "rejection-reason") == "Reason: Budget for this year is closed."

    login(client, cbm)
    requests = by_id(client.get(url("accounts_contract_changelist")), "pool-requests")
    assert "Rejected by op on" in requests
    assert "Budget for this year is closed." in requests
    login(client, owner)
    page = client.get(url("coupons_creditpool_change", pool.pk))
    assert "Budget for this year is closed." in by_id(page, "rejection-reason")


def test_only_operators_decide(client, make_pool, cbm, owner):
    pool = make_pool(approve=False)
    for user in (cbm, owner):
        login(client, user)
        for decision in ("approve", "reject"):
            target = url("coupons_creditpool_decide", pool.pk, decision)
            assert client.get(target).status_code == 403
            assert client.post(target, {"reason": "x"}).status_code == 403
        page = client.get(url("coupons_creditpool_change", pool.pk))
        assert "Approve" not in by_id(page, "content-main").split("Status")[0]
    assert CreditPool.objects.get(pk=pool.pk).status == "requested"


# --- issuance ---------------------------------------------------------------------


def test_administrator_issues_coupons_through_the_form_once(
    client, make_pool, enterprise, owner
):
    manager, m1, m2 = enterprise
    pool = make_pool("1000.00", products=["ecs"], bill_types=["pay_as_you_go"])
    login(client, owner)
    contracts = client.get(url("accounts_contract_changelist"))
    granted = by_id(contracts, "pools-granted")
    assert "1000.00 CNY" in granted
    assert "Issue coupons" in granted

    target = url("coupons_creditpool_issue", pool.pk)
    form = client.get(target)
    offered = [
        node.attrs["value"]
        for node in parse(form).find_all("input", type="checkbox")
        if node.attrs.get("name") == "accounts"
    ]
    assert sorted(offered) == sorted(str(a.pk) for a in (manager, m1, m2))
    assert by_id(form, "scope-note") == (
        "Set by your business manager; request another pool for another scope."
    )
    # The scope is shown, never asked for.
    names = {n.attrs.get("name") for n in parse(form).find_all("input")}
    assert not names & {"products", "bill_types", "valid_from", "valid_until"}
    assert "ecs" in by_id(form, "scope")
    assert "Pay as you go" in by_id(form, "scope")

    data = {"accounts": [m1.pk, m2.pk], "count": "3", "face_value": "100.00"}
    review = client.post(target, data)
    summary = by_id(review, "issue-summary")
    assert "Now 1000.00 CNY" in summary
    assert "After you confirm 700.00 CNY" in summary
    assert "3 × 100.00 CNY (300.00 CNY in all)" in text(review)  # noqa: RUF001
    assert not Coupon.objects.exists()

    fields = confirming(review)
    assert sorted(fields["accounts"]) == sorted([str(m1.pk), str(m2.pk)])
    done = client.post(target, fields, follow=True)
    assert messages_of(done) == [
        f"Issued 3 coupons of 100.00 CNY each from pool #{pool.pk} (300.00 CNY in all)."
    ]
    replay = client.post(target, fields, follow=True)
    assert messages_of(replay) == messages_of(done)
    assert Coupon.objects.count() == 3
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("700.00"), D("300.00"))
    assert "3 coupons issued from this pool" in by_id(done, "coupons")
    assert find_discrepancies() == []


def test_issuance_refusals_are_shown_as_sentences(
    client, make_pool, enterprise, owner, make_account
):
    _manager, m1, m2 = enterprise
    pool = make_pool("100.00")
    login(client, owner)
    target = url("coupons_creditpool_issue", pool.pk)
    too_much = client.post(
        target, {"accounts": [m1.pk], "count": "3", "face_value": "40.00"}
    )
    assert refusal_items(too_much) == [
        "3 coupons of 40.00 make 120.00, more than the 100.00 left in the pool. "
        "exceeds_pool_remaining"
    ]
    assert "The coupons cannot be issued. Nothing was issued." in text(too_much)

    # m2's relationship ends after the form was shown: the POST still names it.
    relationship = FinancialRelationship.objects.get(member_account=m2, status="active")
    terminate_relationship(relationship=relationship, actor=owner)
    stale = client.post(target, {"accounts": [m2.pk], "count": "1", "face_value": "1"})
    assert refusal_items(stale) == [
        f"Account {m2.uid} is neither the management account nor a member with an "
        "active payment relationship; coupons cannot be issued to it. "
        "account_not_eligible"
    ]
    absent = by_id(client.get(target), "absent")
    assert f"Member 2 ({m2.uid}) ended on" in absent

    # A refusal at confirmation (the pool left its window) comes from the service.
    review = client.post(target, {"accounts": [m1.pk], "count": "1", "face_value": "1"})
    CreditPool.objects.filter(pk=pool.pk).update(valid_until=timezone.now())
    refused = client.post(target, confirming(review))
    assert refusal_items(refused) == [
        f"Coupon credit pool {pool.pk} is not approved and valid now; coupons can "
        "only be issued from an approved pool inside its validity. pool_not_active"
    ]
    blocked = client.get(target)
    assert "Coupons cannot be issued from this pool now." in text(blocked)
    assert not Coupon.objects.exists()


def test_issuing_needs_owner_or_manage_on_the_management_account(
    client, make_pool, enterprise, cbm, grant
):
    manager, m1, _m2 = enterprise
    pool = make_pool()
    viewer = UserFactory(username="viewer")
    grant(viewer, manager, "use")
    member_admin = UserFactory(username="member-admin")
    grant(member_admin, m1, "owner")
    target = url("coupons_creditpool_issue", pool.pk)
    data = {"accounts": [m1.pk], "count": "1", "face_value": "1.00"}
    for user in (cbm, viewer):
        login(client, user)
        assert client.get(target).status_code == 403
        assert client.post(target, data).status_code == 403
        page = client.get(url("coupons_creditpool_change", pool.pk))
        assert page.status_code == 200
        assert "Issue coupons" not in text(page)
    # A member's administrator does not see the management account's pool.
    login(client, member_admin)
    assert (
        client.get(target).status_code
        == client.get(url("coupons_creditpool_issue", MISSING)).status_code
    )
    assert not Coupon.objects.exists()


# --- the coupon page --------------------------------------------------------------


def test_coupon_page_says_not_applying_since_and_revokes_once(
    client, make_pool, enterprise, owner, grant
):
    _manager, m1, m2 = enterprise
    pool = make_pool("500.00")
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1, m2], count=1, face_value=D("100.00"), actor=owner
    )
    usage(m1, "30.00")
    relationship = FinancialRelationship.objects.get(member_account=m1, status="active")
    ended = terminate_relationship(relationship=relationship, actor=owner)
    after = usage(m1, "20.00")
    assert after.charged_amount == D("20.00")

    login(client, owner)
    page = client.get(url("coupons_coupon_change", coupon.pk))
    rows = {row[0]: row[1:] for row in _rows(page, "applicability")}
    until = coupon.asset.valid_until.strftime("%Y-%m-%d %H:%M")
    since = ended.end.strftime("%Y-%m-%d %H:%M")
    assert rows[f"Member 1 ({m1.uid})"] == [
        f"Does not apply Valid until {until} UTC, not applying to this account "
        f"since {since} UTC (its payment relationship with the management account "
        "ended); revoke the remaining value.",
        "Revoke",
    ]
    assert rows[f"Member 2 ({m2.uid})"] == ["Applies", ""]
    value = by_id(page, "value")
    assert "Face value 100.00" in value
    assert "Deducted from usage 30.00" in value
    assert "Remaining 70.00" in value
    skips = by_id(page, "skips")
    assert "The account had no active payment relationship with the management " in (
        skips
    )
    # Said in a sentence; the skip's code is not shown (data-reason only).
    assert "payment_relationship_inactive" not in skips
    assert "payment_relationship_inactive" in page.content.decode()

    # The coupon list shows the same numbers.
    listed = result_rows(client.get(url("coupons_coupon_changelist")))
    assert listed[0][1:6] == [
        str(pool),
        "100.00 CNY",
        "70.00 CNY",
        "30.00 CNY",
        "0.00 CNY",
    ]

    target = url("coupons_coupon_revoke", coupon.pk)
    review = client.get(target)
    assert "Revoke the remaining 70.00 CNY of this coupon? It goes back to pool" in (
        text(review)
    )
    fields = confirming(review)
    done = client.post(target, fields, follow=True)
    assert messages_of(done) == [
        f"Revoked 70.00 CNY of coupon #{coupon.pk}: it is back in pool #{pool.pk}. "
        "What was already deducted stays."
    ]
    again = client.post(target, fields, follow=True)
    assert messages_of(again) == messages_of(done)
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount, pool.revoked_amount) == (
        D("470.00"),
        D("100.00"),
        D("70.00"),
    )
    assert "Revoked by owner on" in by_id(done, "revoked")
    assert find_discrepancies() == []


def test_only_the_management_accounts_administrators_revoke(
    client, make_pool, enterprise, owner, grant, cbm
):
    _manager, m1, _m2 = enterprise
    pool = make_pool()
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("10.00"), actor=owner
    )
    member_admin = UserFactory(username="member-admin")
    grant(member_admin, m1, "owner")
    for user in (member_admin, cbm):
        login(client, user)
        page = client.get(url("coupons_coupon_change", coupon.pk))
        assert page.status_code == 200
        assert "Revoke" not in [c for row in _rows(page, "applicability") for c in row]
        target = url("coupons_coupon_revoke", coupon.pk)
        assert client.get(target).status_code == 403
        assert client.post(target, {"confirm": "yes"}).status_code == 403
    coupon.asset.refresh_from_db()
    assert coupon.asset.remaining == D("10.00")


def _rows(response, node_id):
    node = parse(response).find(id=node_id)
    return [row for row in table_rows(node) if row and row[0] != "Account"]


# --- the empty state --------------------------------------------------------------


def test_empty_state_says_who_may_request_a_pool(client, company, cbm, enterprise):
    _manager, m1, _m2 = enterprise
    admin = UserFactory(username="admin-of-m1")
    AccessFactory(user=admin, account=m1, permission="owner")
    rule = (
        "Only a customer business manager (CBM) can request a coupon credit pool, "
        "and the request must select the distribution target “Specify Enterprise "
        "Management Account”."
    )
    login(client, admin)
    for page in (
        client.get(url("coupons_creditpool_changelist")),
        client.get(url("accounts_contract_changelist")),
    ):
        empty = by_id(page, "pools-empty")
        assert "No coupon credit pools yet" in empty
        assert rule in empty
        assert "The business manager of Acme is cbm-acme: ask them to request a " in (
            empty
        )
    login(client, cbm)
    empty = by_id(client.get(url("coupons_creditpool_changelist")), "pools-empty")
    assert rule in empty
    assert "You are the business manager of: Acme." in empty
    assert "Request a coupon credit pool" in text(
        client.get(url("coupons_creditpool_changelist"))
    )


def test_a_company_without_business_manager_says_so(client, company, owner, grant):
    account = AccountFactory(company=company)
    grant(owner, account, "owner")
    login(client, owner)
    empty = by_id(client.get(url("coupons_creditpool_changelist")), "pools-empty")
    assert "Acme has no business manager yet; contact the provider." in empty


# --- the product catalogue ----------------------------------------------------------


def test_operators_maintain_the_catalogue_customers_do_not_see_it(
    client, operator, owner, cbm, company
):
    login(client, operator)
    response = client.post(
        url("coupons_product_add"), {"code": "rds", "name": "Relational Database"}
    )
    assert response.status_code == 302
    product = Product.objects.get(code="rds")
    client.post(
        url("coupons_product_change", product.pk),
        {"code": "changed", "name": "ApsaraDB RDS"},
    )
    product.refresh_from_db()
    assert (product.code, product.name) == ("rds", "ApsaraDB RDS")
    for user in (owner, cbm):
        login(client, user)
        assert client.get(url("coupons_product_changelist")).status_code == 403
        assert client.get(url("coupons_product_change", product.pk)).status_code == 403


# --- other companies' pools and coupons ----------------------------------------------

_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')
_TOKEN = re.compile(r'(name="confirmation_token" value=")[^"]+"')


def _answer(client, method, target, ids):
    response = getattr(client, method)(target, follow=True)
    body = _TOKEN.sub(r"\1{token}", _CSRF.sub(r"\1{csrf}", response.content.decode()))
    for value in ids:
        body = body.replace(f"/{quote(str(value))}/", "/{id}/")
        body = body.replace(f"\u201c{value}\u201d", "\u201c{id}\u201d")
    chain = [(u, s) for u, s in response.redirect_chain]
    for value in ids:
        chain = [(u.replace(f"/{value}/", "/{id}/"), s) for u, s in chain]
    return response.status_code, chain, body


@pytest.fixture
def globex_pool(other_company, operator):
    """An approved pool of Globex with one coupon, and Globex's own CBM."""
    globex_cbm = make_cbm("cbm-globex")
    other_company.business_manager = globex_cbm
    other_company.save(update_fields=["business_manager"])
    manager = AccountFactory(company=other_company, name="Globex Manager")
    set_management_account(company=other_company, account=manager, actor=operator)
    pool = request_pool(
        company=other_company,
        distribution_target="enterprise_management_account",
        management_account=manager,
        products=[],
        bill_types=["subscription"],
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=10),
        amount=D("50.00"),
        actor=globex_cbm,
    )
    approve_pool(pool=pool, actor=operator)
    (coupon,) = issue_coupons(
        pool=pool, accounts=[manager], count=1, face_value=D("5.00"), actor=operator
    )
    return pool, coupon, globex_cbm


@pytest.mark.parametrize("who", ["owner", "cbm", "member_admin"])
def test_other_companies_pools_and_coupons_answer_like_missing_ids(
    client, make_pool, enterprise, owner, cbm, grant, globex_pool, who
):
    pool, coupon, _ = globex_pool
    member_admin = UserFactory(username="member-admin")
    grant(member_admin, enterprise[1], "owner")
    user = {"owner": owner, "cbm": cbm, "member_admin": member_admin}[who]
    login(client, user)
    before = (
        CreditPool.objects.count(),
        Coupon.objects.count(),
        Movement.objects.count(),
    )
    targets = [
        ("coupons_creditpool_change", pool.pk),
        ("coupons_creditpool_history", pool.pk),
        ("coupons_creditpool_issue", pool.pk),
        ("coupons_creditpool_decide", pool.pk, "approve"),
        ("coupons_creditpool_decide", pool.pk, "reject"),
        ("coupons_coupon_change", coupon.pk),
        ("coupons_coupon_history", coupon.pk),
        ("coupons_coupon_revoke", coupon.pk),
    ]
    for name, pk, *rest in targets:
        seen_url = url(name, pk, *rest)
        missing_url = url(name, MISSING, *rest)
        for method in ("get", "post"):
            seen = _answer(client, method, seen_url, [pk, MISSING])
            absent = _answer(client, method, missing_url, [pk, MISSING])
            assert seen == absent, (method, seen_url)
        # The admin's own answer for a missing id (a POST to a change page is
        # refused first, 403, for every id alike).
        assert "doesn’t exist" in _answer(client, "get", seen_url, [])[2]  # noqa: RUF001
    assert result_rows(client.get(url("coupons_creditpool_changelist"))) == []
    assert result_rows(client.get(url("coupons_coupon_changelist"))) == []
    contracts = text(client.get(url("accounts_contract_changelist")))
    assert "Globex" not in contracts
    assert before == (
        CreditPool.objects.count(),
        Coupon.objects.count(),
        Movement.objects.count(),
    )


def test_the_globex_cbm_sees_its_pool_and_not_acmes(client, make_pool, globex_pool):
    acme_pool = make_pool()
    pool, _coupon, globex_cbm = globex_pool
    login(client, globex_cbm)
    rows = result_rows(client.get(url("coupons_creditpool_changelist")))
    assert [r[0] for r in rows] == [str(pool.pk)]
    assert client.get(url("coupons_creditpool_change", acme_pool.pk)).status_code == (
        client.get(url("coupons_creditpool_change", MISSING)).status_code
    )


def test_the_pool_screens_speak_chinese(client, company, cbm, enterprise, owner):
    login(client, owner)
    page = client.get(
        url("coupons_creditpool_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    empty = by_id(page, "pools-empty")
    assert "只有客户经理（CBM）可以申请代金券额度池" in empty
    assert "“指定企业管理账号”" in empty
    assert "Acme 的客户经理是 cbm-acme" in empty
