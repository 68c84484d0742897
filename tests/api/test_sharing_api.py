"""The equity asset sharing API (SPEC §4, §8): provisioning, reading assets,
shares with accounts and folders, recipients and their periods, automatic
rules, a recipient's deduct rule, usage with its deductions and the deduction
log. Bodies are asserted, refusals write nothing, and another company's
objects answer exactly like missing ids."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest

from accounts import services as account_services
from accounts.models import Account, Company, Folder
from accounts.models.structure import RelationshipPermission
from billing_portal.models import AuditEvent, IdempotencyRecord
from sharing import services
from sharing.models import (
    Asset,
    Deduction,
    RecipientRule,
    Share,
    SharePeriod,
    SharingRule,
    UsageRecord,
)
from tests.api.helpers import API
from tests.factories import AccountFactory, UserFactory

MISSING = 999999
VALID_FROM = datetime(2025, 3, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2025, 4, 1, tzinfo=UTC)
T_SHARE = datetime(2025, 3, 10, 8, 0, 0, 123456, tzinfo=UTC)
T_STOP = datetime(2025, 3, 12, 9, 30, 0, 654321, tzinfo=UTC)
ISO_FROM = "2025-03-01T00:00:00Z"
ISO_UNTIL = "2025-04-01T00:00:00Z"
ISO_SHARE = "2025-03-10T08:00:00.123456Z"
ISO_STOP = "2025-03-12T09:30:00.654321Z"
#: Output fields that only some asset types have (null for the others).
TYPE_FIELDS = dict.fromkeys(
    [
        "commitment_per_hour",
        "instance_type",
        "region",
        "count",
        "capacity",
        "remaining",
        "face_value",
        "remaining_value",
    ]
)


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    company: Company
    other_company: Company
    a: Account  # owns the assets; administered by ``owner``
    b: Account  # a recipient, administered by ``recipient``
    c: Account  # another account of the company, nobody's
    x: Account  # another company's account, administered by ``stranger``
    folder: Folder  # "Eng" with b and c
    x_folder: Folder
    operator: object
    owner: object
    viewer: object  # ``use`` on a
    recipient: object
    stranger: object


@pytest.fixture
def world(company, other_company, make_account, operator, owner, grant):
    a, b, c = (make_account(name=n) for n in ("A", "B", "C"))
    x = make_account(company=other_company, name="X")
    users = {n: UserFactory(username=n) for n in ("viewer", "recipient", "stranger")}
    grant(owner, a)
    grant(users["viewer"], a, "use")
    grant(users["recipient"], b)
    grant(users["stranger"], x)
    folder = account_services.create_folder(company=company, name="Eng", actor=operator)
    account_services.place_accounts(folder=folder, accounts=[b, c], actor=operator)
    x_folder = account_services.create_folder(
        company=other_company, name="Ops", actor=operator
    )
    return World(
        company=company,
        other_company=other_company,
        a=a,
        b=b,
        c=c,
        x=x,
        folder=folder,
        x_folder=x_folder,
        operator=operator,
        owner=owner,
        **users,
    )


def provision(world, type="savings_plan", owner=None, **fields) -> Asset:
    defaults = {
        "savings_plan": {"commitment_per_hour": Decimal("5.00")},
        "reserved_instance": {
            "instance_type": "ecs.g7.large",
            "region": "cn-hangzhou",
            "count": 2,
        },
        "scu_package": {"capacity": Decimal("100.00")},
        "coupon": {"capacity": Decimal("50.00")},
    }[type]
    return services.provision_asset(
        type=type,
        owner=owner or world.a,
        valid_from=VALID_FROM,
        valid_until=VALID_UNTIL,
        products=fields.pop("products", ["ecs"]),
        actor=world.operator,
        **{**defaults, **fields},
    )


def share_at(world, asset, accounts, instant=T_SHARE):
    with at(instant):
        return services.share_with_accounts(
            asset=asset, accounts=accounts, actor=world.operator
        )


def codes(response) -> list[str]:
    return [r["code"] for r in response.json()["reasons"]]


def written():
    """What a sharing request can write, to compare before and after."""
    return {
        "assets": list(Asset.objects.order_by("pk").values_list("pk", "remaining")),
        "shares": list(Share.objects.order_by("pk").values_list("pk", "status")),
        "periods": list(
            SharePeriod.objects.order_by("pk").values_list("pk", "recipient", "end")
        ),
        "rules": SharingRule.objects.count(),
        "recipient_rules": list(
            RecipientRule.objects.values_list("pk", "excluded_products")
        ),
        "usage": UsageRecord.objects.count(),
        "deductions": Deduction.objects.count(),
        "audit": AuditEvent.objects.count(),
        "keys": IdempotencyRecord.objects.count(),
    }


def assert_same_404(response, missing):
    assert response.status_code == 404, response.content
    assert missing.status_code == 404
    assert response.content == missing.content
    assert response.json() == {"detail": "Not found."}


def flat(errors) -> list[str]:
    """Every message of a field's errors (a list field's are keyed by index)."""
    if isinstance(errors, str):
        return [errors]
    values = errors.values() if isinstance(errors, dict) else errors
    return [message for value in values for message in flat(value)]


def invalid_pk(response, field, pk) -> list[str]:
    """The 400 messages of ``field`` with the id replaced (to compare a hidden
    object's refusal with a missing one's)."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {field}
    return [m.replace(str(pk), "ID") for m in flat(body[field])]


# --- POST /assets/ --------------------------------------------------------------------


def asset_body(world, kind="savings_plan", /, **overrides) -> dict:
    body = {
        "type": kind,
        "owner": world.a.pk,
        "valid_from": ISO_FROM,
        "valid_until": ISO_UNTIL,
        "products": ["ecs", "oss"],
        **{
            "savings_plan": {"commitment_per_hour": "5.00"},
            "reserved_instance": {
                "instance_type": "ecs.g7.large",
                "region": "cn-hangzhou",
                "count": 2,
            },
            "scu_package": {"capacity": "100"},
            "coupon": {"face_value": "50.5", "bill_types": ["subscription"]},
        }[kind],
    }
    for name, value in overrides.items():
        if value is DROP:
            body.pop(name)
        else:
            body[name] = value
    return body


DROP = object()

PROVISIONED = {
    "savings_plan": {"commitment_per_hour": "5.00"},
    "reserved_instance": {
        "instance_type": "ecs.g7.large",
        "region": "cn-hangzhou",
        "count": 2,
    },
    "scu_package": {"capacity": "100.00", "remaining": "100.00"},
    "coupon": {"face_value": "50.50", "remaining_value": "50.50"},
}


@pytest.mark.parametrize("type", list(PROVISIONED))
def test_an_operator_provisions_each_type_of_asset(
    world, client_for, assert_ledger_clean, type
):
    response = client_for(world.operator).post(
        f"{API}/assets/", asset_body(world, type), format="json"
    )

    assert response.status_code == 201, response.content
    asset = Asset.objects.get()
    assert response.json() == {
        "id": asset.pk,
        "type": type,
        "owner": world.a.pk,
        "currency": "CNY",
        "valid_from": ISO_FROM,
        "valid_until": ISO_UNTIL,
        "products": ["ecs", "oss"],
        "bill_types": ["subscription"] if type == "coupon" else [],
        **TYPE_FIELDS,
        **PROVISIONED[type],
        "status": "active",
        "recipient_count": 0,
        "recipient_limit": 100,
        "provisioned_by": world.operator.pk,
        "created_at": iso(asset.created_at),
    }
    # A capacity (SCU package, coupon) is granted by a movement on its book.
    expected = {"scu_package": "100.00", "coupon": "50.50"}.get(type, "0.00")
    assert f"{asset.remaining:.2f}" == expected
    assert asset.provisioned_by == world.operator
    assert_ledger_clean()


def test_a_provisioned_asset_reads_the_same_from_its_detail(world, client_for):
    client = client_for(world.operator)
    created = client.post(f"{API}/assets/", asset_body(world), format="json").json()

    detail = client.get(f"{API}/assets/{created['id']}/")

    assert detail.status_code == 200
    assert detail.json() == created


BAD_ASSETS = {
    "type_unknown": ({"type": "gold"}, "type"),
    "type_missing": ({"type": DROP}, "type"),
    "owner_missing_id": ({"owner": MISSING}, "owner"),
    "owner_text": ({"owner": "abc"}, "owner"),
    "owner_null": ({"owner": None}, "owner"),
    "valid_from_words": ({"valid_from": "yesterday"}, "valid_from"),
    "valid_from_missing": ({"valid_from": DROP}, "valid_from"),
    "valid_until_equal": ({"valid_until": ISO_FROM}, "valid_until"),
    "valid_until_before": (
        {"valid_until": "2025-02-28T23:59:59.999999Z"},
        "valid_until",
    ),
    "products_missing": ({"products": DROP}, "products"),
    "products_text": ({"products": "ecs"}, "products"),
    "products_blank_code": ({"products": [""]}, "products"),
    "products_long_code": ({"products": ["p" * 65]}, "products"),
    "products_too_many": ({"products": [f"p{n}" for n in range(201)]}, "products"),
    "commitment_missing": ({"commitment_per_hour": DROP}, "commitment_per_hour"),
    "commitment_zero": ({"commitment_per_hour": "0"}, "commitment_per_hour"),
    "commitment_negative": ({"commitment_per_hour": "-1"}, "commitment_per_hour"),
    "commitment_3_places": ({"commitment_per_hour": "1.005"}, "commitment_per_hour"),
    "commitment_exponent": ({"commitment_per_hour": "1e3"}, "commitment_per_hour"),
    "commitment_too_big": (
        {"commitment_per_hour": "10000000000000"},
        "commitment_per_hour",
    ),
    "capacity_on_a_savings_plan": ({"capacity": "10"}, "capacity"),
    "face_value_on_a_savings_plan": ({"face_value": "10"}, "face_value"),
    "bill_types_on_a_savings_plan": ({"bill_types": []}, "bill_types"),
    "count_on_a_savings_plan": ({"count": 1}, "count"),
    "region_on_a_savings_plan": ({"region": "cn-hangzhou"}, "region"),
    "unknown_field": ({"colour": "red"}, "colour"),
    "currency_is_the_owners": ({"currency": "USD"}, "currency"),
}


@pytest.mark.parametrize(
    ("overrides", "field"), list(BAD_ASSETS.values()), ids=list(BAD_ASSETS)
)
def test_a_bad_asset_field_is_a_400_naming_it(
    world, client_for, db_state, overrides, field
):
    before, state = written(), db_state()

    response = client_for(world.operator).post(
        f"{API}/assets/", asset_body(world, **overrides), format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert written() == before
    assert db_state() == state


BAD_TYPED_ASSETS = {
    "ri_region_missing": ("reserved_instance", {"region": DROP}, "region"),
    "ri_count_missing": ("reserved_instance", {"count": DROP}, "count"),
    "ri_count_zero": ("reserved_instance", {"count": 0}, "count"),
    "ri_count_fraction": ("reserved_instance", {"count": 1.5}, "count"),
    "ri_count_huge": ("reserved_instance", {"count": 2**31}, "count"),
    "ri_instance_type_blank": (
        "reserved_instance",
        {"instance_type": ""},
        "instance_type",
    ),
    "ri_with_commitment": (
        "reserved_instance",
        {"commitment_per_hour": "1.00"},
        "commitment_per_hour",
    ),
    "scu_capacity_missing": ("scu_package", {"capacity": DROP}, "capacity"),
    "scu_capacity_zero": ("scu_package", {"capacity": "0.00"}, "capacity"),
    "scu_capacity_float_text": ("scu_package", {"capacity": "NaN"}, "capacity"),
    "coupon_face_value_missing": ("coupon", {"face_value": DROP}, "face_value"),
    "coupon_bill_types_missing": ("coupon", {"bill_types": DROP}, "bill_types"),
    "coupon_bill_type_unknown": ("coupon", {"bill_types": ["monthly"]}, "bill_types"),
    "coupon_with_capacity": ("coupon", {"capacity": "1.00"}, "capacity"),
}


@pytest.mark.parametrize(
    ("type", "overrides", "field"),
    list(BAD_TYPED_ASSETS.values()),
    ids=list(BAD_TYPED_ASSETS),
)
def test_each_type_asks_for_its_own_fields_and_refuses_the_others(
    world, client_for, type, overrides, field
):
    before = written()

    response = client_for(world.operator).post(
        f"{API}/assets/", asset_body(world, type, **overrides), format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert written() == before


def test_every_misplaced_and_missing_type_field_is_named_at_once(world, client_for):
    body = asset_body(
        world, commitment_per_hour=DROP, capacity="1.00", region="cn-hangzhou"
    )

    response = client_for(world.operator).post(f"{API}/assets/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "commitment_per_hour": ["This field is required."],
        "capacity": ["This field belongs to another type of asset."],
        "region": ["This field belongs to another type of asset."],
    }


def test_duplicate_codes_are_kept_once(world, client_for):
    response = client_for(world.operator).post(
        f"{API}/assets/",
        asset_body(
            world,
            "coupon",
            products=["ecs", "oss", "ecs"],
            bill_types=["subscription", "subscription"],
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["products"] == ["ecs", "oss"]
    assert response.json()["bill_types"] == ["subscription"]


def test_provisioning_is_for_operators_only(world, client_for):
    before = written()

    for user, account in ((world.owner, world.a), (world.stranger, world.x)):
        response = client_for(user).post(
            f"{API}/assets/", asset_body(world, owner=account.pk), format="json"
        )
        assert response.status_code == 403, response.content
        assert codes(response) == ["no_permission"]
    assert written() == before


def test_a_customer_naming_another_companys_owner_gets_the_missing_id_400(
    world, client_for
):
    client = client_for(world.owner)

    theirs = client.post(
        f"{API}/assets/", asset_body(world, owner=world.x.pk), format="json"
    )
    missing = client.post(
        f"{API}/assets/", asset_body(world, owner=MISSING), format="json"
    )

    assert invalid_pk(theirs, "owner", world.x.pk) == invalid_pk(
        missing, "owner", MISSING
    )


def test_provisioning_replays_with_the_same_idempotency_key(world, client_for):
    client = client_for(world.operator)
    body = asset_body(world, "scu_package", capacity="100")

    first = client.post(
        f"{API}/assets/", body, format="json", HTTP_IDEMPOTENCY_KEY="asset-1"
    )
    again = client.post(
        f"{API}/assets/",
        {**body, "capacity": "100.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="asset-1",
    )
    other = client.post(
        f"{API}/assets/",
        {**body, "capacity": "99.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="asset-1",
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Asset.objects.count() == 1
    assert other.status_code == 409
    assert codes(other) == ["idempotency_key_reused"]
    assert Asset.objects.count() == 1


# --- GET /assets/ ---------------------------------------------------------------------


def test_assets_list_what_the_user_owns_or_receives(world, client_for):
    plan = provision(world)
    scu = provision(world, "scu_package")
    theirs = provision(world, owner=world.x)
    share_at(world, plan, [world.b, world.c])

    owners = client_for(world.owner).get(f"{API}/assets/").json()
    recipients = client_for(world.recipient).get(f"{API}/assets/").json()
    strangers = client_for(world.stranger).get(f"{API}/assets/").json()
    operators = client_for(world.operator).get(f"{API}/assets/").json()

    assert set(owners) == {"count", "next", "previous", "results"}
    assert [(a["id"], a["recipient_count"]) for a in owners["results"]] == [
        (scu.pk, 0),
        (plan.pk, 2),
    ]
    assert [a["id"] for a in recipients["results"]] == [plan.pk]
    assert recipients["results"][0]["owner"] == world.a.pk
    assert [a["id"] for a in strangers["results"]] == [theirs.pk]
    assert operators["count"] == 3


def test_asset_filters(world, client_for):
    plan = provision(world)
    scu = provision(world, "scu_package")
    provision(world, owner=world.b)
    Asset.objects.filter(pk=scu.pk).update(status="exhausted")
    client = client_for(world.operator)

    def ids(**query):
        response = client.get(f"{API}/assets/", query)
        assert response.status_code == 200, response.content
        return [a["id"] for a in response.json()["results"]]

    assert ids(owner=world.a.pk) == [scu.pk, plan.pk]
    assert ids(owner=world.a.pk, type="savings_plan") == [plan.pk]
    assert ids(status="exhausted") == [scu.pk]
    assert ids(owner=MISSING) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"owner": "abc"}, "owner"),
        ({"owner": "\uff11"}, "owner"),
        ({"type": "gold"}, "type"),
        ({"status": "sleeping"}, "status"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_a_bad_asset_filter_is_a_400_naming_it(world, client_for, query, field):
    response = client_for(world.owner).get(f"{API}/assets/", query)

    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_asset_lists_are_paginated(world, client_for):
    for _ in range(3):
        provision(world)

    page = client_for(world.owner).get(f"{API}/assets/", {"page_size": 2}).json()

    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"].endswith("page=2&page_size=2")
    assert page["previous"] is None


# --- shares ---------------------------------------------------------------------------


def share_out(share, **fields) -> dict:
    """The body of a share as the API shows it, from the row."""
    body = {
        "id": share.pk,
        "asset": share.asset_id,
        "target": share.target,
        "account": share.account_id,
        "folder": share.folder_id,
        "status": share.status,
        "detail": share.detail,
        "due_at": share.due_at and iso(share.due_at),
        "active_since": share.active_since and iso(share.active_since),
        "resolved_at": share.resolved_at and iso(share.resolved_at),
        "stopped_at": share.stopped_at and iso(share.stopped_at),
        "rule": share.rule_id,
        "created_at": iso(share.created_at),
        "created_by": share.created_by_id,
    }
    body.update(fields)
    return body


def test_sharing_with_accounts_applies_at_once(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)

    with at(T_SHARE):
        response = client.post(
            f"{API}/assets/{plan.pk}/shares/",
            {"accounts": [world.b.pk, world.c.pk, world.b.pk]},
            format="json",
        )

    assert response.status_code == 201, response.content
    b_share, c_share = Share.objects.order_by("account__name")
    active = {
        "target": "account",
        "status": "active",
        "detail": "",
        "due_at": None,
        "active_since": ISO_SHARE,
        "resolved_at": ISO_SHARE,
        "stopped_at": None,
        "created_at": ISO_SHARE,
        "created_by": world.owner.pk,
    }
    assert response.json() == {
        "shares": [
            share_out(b_share, account=world.b.pk, **active),
            share_out(c_share, account=world.c.pk, **active),
        ]
    }
    assert [
        (p.recipient_id, p.start, p.end)
        for p in SharePeriod.objects.order_by("recipient__name")
    ] == [(world.b.pk, T_SHARE, None), (world.c.pk, T_SHARE, None)]
    listed = client.get(f"{API}/assets/{plan.pk}/shares/").json()
    assert listed["count"] == 2
    assert listed["results"] == sorted(
        response.json()["shares"], key=lambda s: -s["id"]
    )
    detail = client.get(f"{API}/assets/{plan.pk}/").json()
    assert detail["recipient_count"] == 2


def test_an_account_the_owner_may_only_name_can_receive(world, client_for):
    """c is no account of the owner's (a 404 to it), but a target it may name."""
    plan = provision(world)
    client = client_for(world.owner)
    assert client.get(f"{API}/accounts/{world.c.pk}/").status_code == 404

    response = client.post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [world.c.pk]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["shares"][0]["account"] == world.c.pk


def test_sharing_again_keeps_the_share_in_force(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)
    first = client.post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [world.b.pk]}, format="json"
    )

    again = client.post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [world.b.pk]}, format="json"
    )

    assert again.status_code == 201
    assert again.json() == first.json()
    assert Share.objects.count() == SharePeriod.objects.count() == 1


def test_sharing_with_a_folder_waits_for_the_worker(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)

    with at(T_SHARE):
        response = client.post(
            f"{API}/assets/{plan.pk}/shares/",
            {"folder": world.folder.pk},
            format="json",
        )

    assert response.status_code == 201, response.content
    share = Share.objects.get()
    assert response.json() == {
        "shares": [
            share_out(
                share,
                target="folder",
                account=None,
                folder=world.folder.pk,
                status="pending",
                due_at=iso(T_SHARE + timedelta(seconds=60)),
                active_since=None,
                resolved_at=None,
            )
        ]
    }
    assert SharePeriod.objects.count() == 0
    with at(T_SHARE + timedelta(seconds=61)):
        assert services.resolve_share(share.pk) == "active"
    listed = client.get(f"{API}/assets/{plan.pk}/shares/").json()["results"]
    assert [(s["status"], s["active_since"]) for s in listed] == [
        ("active", iso(T_SHARE + timedelta(seconds=61)))
    ]
    recipients = client.get(f"{API}/assets/{plan.pk}/recipients/").json()["results"]
    assert sorted(r["recipient"] for r in recipients) == sorted(
        [world.b.pk, world.c.pk]
    )
    assert {r["share"] for r in recipients} == {share.pk}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"accounts", "folder"}),
        ({"accounts": [], "folder": None}, {"accounts", "folder"}),
        ({"accounts": []}, {"accounts"}),
        ({"accounts": "1"}, {"accounts"}),
        ({"accounts": ["abc"]}, {"accounts"}),
        ({"accounts": [MISSING]}, {"accounts"}),
        ({"accounts": [1] * 501}, {"accounts"}),
        ({"folder": "abc"}, {"folder"}),
        ({"folder": MISSING}, {"folder"}),
        ({"folder": [1]}, {"folder"}),
        ({"accounts": ["B"], "folder": "F"}, {"accounts", "folder"}),
        ({"account": 1}, {"account"}),
    ],
)
def test_a_bad_share_body_is_a_400_naming_the_field(world, client_for, body, fields):
    plan = provision(world)
    filled = {
        k: ([world.b.pk] if v == ["B"] else world.folder.pk if v == "F" else v)
        for k, v in body.items()
    }
    before = written()

    response = client_for(world.owner).post(
        f"{API}/assets/{plan.pk}/shares/", filled, format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == fields
    assert written() == before


def test_both_accounts_and_folder_are_refused_in_one_sentence(world, client_for):
    plan = provision(world)

    response = client_for(world.owner).post(
        f"{API}/assets/{plan.pk}/shares/",
        {"accounts": [world.b.pk], "folder": world.folder.pk},
        format="json",
    )

    message = ["Give either accounts or folder (exactly one of them)."]
    assert response.json() == {"accounts": message, "folder": message}


def test_another_companys_account_or_folder_reads_like_a_missing_id(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/shares/"
    before = written()

    account_theirs = client.post(url, {"accounts": [world.x.pk]}, format="json")
    account_missing = client.post(url, {"accounts": [MISSING]}, format="json")
    folder_theirs = client.post(url, {"folder": world.x_folder.pk}, format="json")
    folder_missing = client.post(url, {"folder": MISSING}, format="json")

    assert account_theirs.json() == {
        "accounts": {"0": [f'Invalid pk "{world.x.pk}" - object does not exist.']}
    }
    assert invalid_pk(account_theirs, "accounts", world.x.pk) == invalid_pk(
        account_missing, "accounts", MISSING
    )
    assert invalid_pk(folder_theirs, "folder", world.x_folder.pk) == invalid_pk(
        folder_missing, "folder", MISSING
    )
    assert written() == before


def test_the_owners_viewer_is_not_the_owner_and_a_recipient_cannot_reshare(
    world, client_for, cbm
):
    plan = provision(world)
    share_at(world, plan, [world.b])
    world.company.business_manager = cbm
    world.company.save()
    url = f"{API}/assets/{plan.pk}/shares/"
    before = written()

    viewer = client_for(world.viewer).post(
        url, {"accounts": [world.c.pk]}, format="json"
    )
    manager = client_for(cbm).post(url, {"accounts": [world.c.pk]}, format="json")
    recipient = client_for(world.recipient).post(
        url, {"folder": world.folder.pk}, format="json"
    )

    for response in (viewer, manager):
        assert response.status_code == 403, response.content
        assert response.json() == {
            "code": "not_owner",
            "detail": "You do not have permission to do this.",
            "reasons": [
                {
                    "code": "not_owner",
                    "message": "Only the owner or manage administrators of the account "
                    f"that owns asset {plan.pk} can share it.",
                }
            ],
        }
    assert recipient.status_code == 403, recipient.content
    assert codes(recipient) == ["reshare_not_allowed"]
    assert recipient.json()["reasons"][0]["message"] == (
        f"Asset {plan.pk} was shared with your account; a recipient cannot share it "
        "again."
    )
    assert written() == before


def test_the_101st_recipient_is_refused_with_every_reason(world, client_for, company):
    plan = provision(world)
    hundred = AccountFactory.create_batch(100, company=company)
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/shares/"
    full = client.post(url, {"accounts": [a.pk for a in hundred]}, format="json")
    assert full.status_code == 201, full.content
    assert client.get(f"{API}/assets/{plan.pk}/").json()["recipient_count"] == 100
    before = written()

    refused = client.post(url, {"accounts": [world.c.pk, world.a.pk]}, format="json")

    assert refused.status_code == 409, refused.content
    assert refused.json() == {
        "code": "same_account",
        "detail": "The sharing change was refused.",
        "reasons": [
            {
                "code": "same_account",
                "message": f"Account {world.a.uid} owns this asset; it cannot also "
                "be one of its recipients.",
            },
            {
                "code": "recipient_limit_exceeded",
                "message": "An asset can be shared with at most 100 accounts at a "
                "time; this would make 102.",
            },
        ],
    }
    one_more = client.post(url, {"accounts": [world.c.pk]}, format="json")
    assert one_more.status_code == 409
    assert codes(one_more) == ["recipient_limit_exceeded"]
    assert "this would make 101." in one_more.json()["reasons"][0]["message"]
    assert written() == before
    # Sharing again with one already a recipient does not count twice.
    again = client.post(url, {"accounts": [hundred[0].pk]}, format="json")
    assert again.status_code == 201


def test_a_recipient_of_another_company_is_refused(world, client_for, grant):
    """Linked to Globex too, the owner may name x as a target; the rule refuses."""
    plan = provision(world)
    grant(world.owner, AccountFactory(company=world.other_company), "use")
    before = written()

    response = client_for(world.owner).post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [world.x.pk]}, format="json"
    )

    assert response.status_code == 409, response.content
    assert codes(response) == ["different_company"]
    assert written() == before


def test_sharing_replays_with_the_same_idempotency_key(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/shares/"

    first = client.post(
        url, {"accounts": [world.b.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="s-1"
    )
    services.stop_share(asset=plan, account=world.b, actor=world.owner)
    replay = client.post(
        url, {"accounts": [world.b.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="s-1"
    )
    reused = client.post(
        url, {"folder": world.folder.pk}, format="json", HTTP_IDEMPOTENCY_KEY="s-1"
    )

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    # The replay did not share again: the period stopped stays the only one.
    assert SharePeriod.objects.filter(end__isnull=True).count() == 0
    assert Share.objects.count() == 1
    assert reused.status_code == 409
    assert codes(reused) == ["idempotency_key_reused"]


def test_a_refused_share_is_replayed_with_its_409(world, client_for):
    plan = provision(world)
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/shares/"

    refused = client.post(
        url, {"accounts": [world.a.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="s-2"
    )
    replay = client.post(
        url, {"accounts": [world.a.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="s-2"
    )

    assert refused.status_code == replay.status_code == 409
    assert replay.json() == refused.json()


# --- stopping shares ------------------------------------------------------------------


def test_stopping_a_share_ends_the_period_and_keeps_the_history(world, client_for):
    plan = provision(world)
    share_at(world, plan, [world.b, world.c])
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/shares/{world.b.pk}/"

    with at(T_STOP):
        response = client.delete(url)
    again = client.delete(url)

    assert response.status_code == 204
    assert response.content == b""
    assert [
        (p.recipient_id, p.end) for p in SharePeriod.objects.order_by("recipient__name")
    ] == [(world.b.pk, T_STOP), (world.c.pk, None)]
    shares = client.get(f"{API}/assets/{plan.pk}/shares/").json()["results"]
    assert [(s["account"], s["status"], s["stopped_at"]) for s in shares] == [
        (world.c.pk, "active", None),
        (world.b.pk, "stopped", ISO_STOP),
    ]
    assert again.status_code == 409
    assert again.json()["reasons"] == [
        {
            "code": "invalid_state",
            "message": f"The asset is not shared with account {world.b.uid} now.",
        }
    ]
    assert client.get(f"{API}/assets/{plan.pk}/").json()["recipient_count"] == 1


def test_stopping_refusals(world, client_for):
    plan = provision(world)
    share_at(world, plan, [world.b])
    url = f"{API}/assets/{plan.pk}/shares/"
    before = written()

    recipient = client_for(world.recipient).delete(f"{url}{world.b.pk}/")
    viewer = client_for(world.viewer).delete(f"{url}{world.b.pk}/")
    body = client_for(world.owner).delete(
        f"{url}{world.b.pk}/", {"now": True}, format="json"
    )
    theirs = client_for(world.owner).delete(f"{url}{world.x.pk}/")
    missing = client_for(world.owner).delete(f"{url}{MISSING}/")

    assert recipient.status_code == viewer.status_code == 403
    assert codes(recipient) == ["reshare_not_allowed"]
    assert codes(viewer) == ["not_owner"]
    assert body.status_code == 400
    assert body.json() == {"now": ["Unknown field."]}
    assert_same_404(theirs, missing)
    assert written() == before


def test_stopping_a_folder_share(world, client_for):
    plan = provision(world)
    with at(T_SHARE):
        share = services.share_with_folder(
            asset=plan, folder=world.folder, actor=world.owner
        )
    with at(T_SHARE + timedelta(minutes=1)):
        services.resolve_share(share.pk)
    share_at(world, plan, [world.b], instant=T_SHARE + timedelta(minutes=2))
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/folder-shares/{world.folder.pk}/"

    with at(T_STOP):
        response = client.delete(url)
    again = client.delete(url)

    assert response.status_code == again.status_code == 204
    share.refresh_from_db()
    assert (share.status, share.stopped_at) == ("stopped", T_STOP)
    # b keeps receiving through its own account share; c's period ended.
    assert {p.recipient_id: p.end for p in SharePeriod.objects.filter(asset=plan)} == {
        world.b.pk: None,
        world.c.pk: T_STOP,
    }


def test_a_folder_never_shared_or_out_of_reach_is_404(world, client_for, operator):
    plan = provision(world)
    other = account_services.create_folder(
        company=world.company, name="Sales", actor=operator
    )
    client = client_for(world.owner)
    url = f"{API}/assets/{plan.pk}/folder-shares/"
    missing = client.delete(f"{url}{MISSING}/")

    assert_same_404(client.delete(f"{url}{other.pk}/"), missing)
    assert_same_404(client.delete(f"{url}{world.x_folder.pk}/"), missing)


def test_a_folder_share_is_stopped_only_by_the_owners_administrators(world, client_for):
    plan = provision(world)
    share_at(world, plan, [world.b])
    services.share_with_folder(asset=plan, folder=world.folder, actor=world.owner)
    before = written()

    response = client_for(world.recipient).delete(
        f"{API}/assets/{plan.pk}/folder-shares/{world.folder.pk}/"
    )

    assert response.status_code == 403
    assert codes(response) == ["reshare_not_allowed"]
    assert written() == before


# --- recipients -----------------------------------------------------------------------


@pytest.fixture
def stopped(world):
    """A plan shared with b from T_SHARE to T_STOP, and with c from T_SHARE on."""
    plan = provision(world)
    share_at(world, plan, [world.b, world.c])
    with at(T_STOP):
        services.stop_share(asset=plan, account=world.b, actor=world.owner)
    return plan


def test_recipients_with_their_periods(world, stopped, client_for):
    response = client_for(world.owner).get(f"{API}/assets/{stopped.pk}/recipients/")

    assert response.status_code == 200
    periods = {p.recipient_id: p for p in SharePeriod.objects.all()}
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": periods[account.pk].pk,
                "recipient": account.pk,
                "recipient_uid": account.uid,
                "recipient_name": account.name,
                "share": periods[account.pk].share_id,
                "start": ISO_SHARE,
                "end": end,
            }
            for account, end in sorted(
                [(world.b, ISO_STOP), (world.c, None)],
                key=lambda pair: periods[pair[0].pk].pk,
            )
        ],
    }


@pytest.mark.parametrize(
    ("instant", "active"),
    [
        (T_SHARE - timedelta(microseconds=1), set()),
        (T_SHARE, {"b", "c"}),
        (T_STOP - timedelta(microseconds=1), {"b", "c"}),
        (T_STOP, {"c"}),
        (datetime(2030, 1, 1, tzinfo=UTC), {"c"}),
    ],
    ids=["before_start", "start", "before_end", "end", "later"],
)
def test_recipients_active_at_an_instant(world, stopped, client_for, instant, active):
    response = client_for(world.owner).get(
        f"{API}/assets/{stopped.pk}/recipients/", {"active_at": iso(instant)}
    )

    assert response.status_code == 200, response.content
    names = {r["recipient_name"].lower() for r in response.json()["results"]}
    assert names == active


def test_an_instant_without_offset_is_utc(world, stopped, client_for):
    response = client_for(world.owner).get(
        f"{API}/assets/{stopped.pk}/recipients/",
        {"active_at": "2025-03-12T09:30:00.654321"},
    )

    assert [r["recipient"] for r in response.json()["results"]] == [world.c.pk]


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-02-30T00:00:00Z", "", "1741600000", "2025-03-12T25:00"]
)
def test_a_bad_active_at_is_a_400_naming_it(world, stopped, client_for, value):
    response = client_for(world.owner).get(
        f"{API}/assets/{stopped.pk}/recipients/", {"active_at": value}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"active_at"}


def test_a_recipients_administrators_see_only_their_accounts(
    world, stopped, client_for
):
    client = client_for(world.recipient)

    recipients = client.get(f"{API}/assets/{stopped.pk}/recipients/").json()
    shares = client.get(f"{API}/assets/{stopped.pk}/shares/").json()

    assert [r["recipient"] for r in recipients["results"]] == [world.b.pk]
    assert [s["account"] for s in shares["results"]] == [world.b.pk]
    assert recipients["count"] == shares["count"] == 1
    # The asset itself they see, with its recipient count.
    assert client.get(f"{API}/assets/{stopped.pk}/").json()["recipient_count"] == 1


def test_a_past_recipient_still_sees_what_it_received(world, stopped, client_for):
    response = client_for(world.recipient).get(f"{API}/assets/")

    assert [a["id"] for a in response.json()["results"]] == [stopped.pk]


# --- automatic sharing rules ----------------------------------------------------------


def test_a_sharing_rule_shares_new_assets_of_its_types(world, client_for):
    client = client_for(world.owner)

    response = client.post(
        f"{API}/sharing-rules/",
        {
            "owner": world.a.pk,
            "asset_types": ["scu_package", "coupon", "scu_package"],
            "accounts": [world.b.pk, world.c.pk],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    rule = SharingRule.objects.get()
    assert response.json() == {
        "id": rule.pk,
        "owner": world.a.pk,
        "asset_types": ["coupon", "scu_package"],
        "accounts": sorted([world.b.pk, world.c.pk]),
        "folder": None,
        "active": True,
        "created_at": iso(rule.created_at),
        "created_by": world.owner.pk,
    }
    assert client.get(f"{API}/sharing-rules/").json()["results"] == [response.json()]
    scu = provision(world, "scu_package")
    plan = provision(world)
    shares = client.get(f"{API}/assets/{scu.pk}/shares/").json()["results"]
    assert sorted((s["account"], s["status"], s["rule"]) for s in shares) == sorted(
        [(world.b.pk, "pending", rule.pk), (world.c.pk, "pending", rule.pk)]
    )
    assert client.get(f"{API}/assets/{plan.pk}/shares/").json()["count"] == 0


def test_a_rule_with_a_folder(world, client_for):
    response = client_for(world.owner).post(
        f"{API}/sharing-rules/",
        {"owner": world.a.pk, "asset_types": ["coupon"], "folder": world.folder.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["accounts"], response.json()["folder"]) == (
        [],
        world.folder.pk,
    )


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"asset_types": []}, {"asset_types"}),
        ({"asset_types": ["gold"]}, {"asset_types"}),
        ({"asset_types": "coupon"}, {"asset_types"}),
        ({"owner": MISSING}, {"owner"}),
        ({"owner": "X"}, {"owner"}),
        ({"accounts": ["X"]}, {"accounts"}),
        ({"accounts": DROP}, {"accounts", "folder"}),
        ({"folder": "F"}, {"accounts", "folder"}),
        ({"folder": "XF", "accounts": DROP}, {"folder"}),
        ({"active": False}, {"active"}),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(world, client_for, overrides, fields):
    names = {"X": world.x.pk, "F": world.folder.pk, "XF": world.x_folder.pk}
    body = {"owner": world.a.pk, "asset_types": ["coupon"], "accounts": [world.b.pk]}
    for name, value in overrides.items():
        if value is DROP:
            body.pop(name)
        elif isinstance(value, list):
            body[name] = [names.get(v, v) for v in value]
        else:
            body[name] = names.get(value, value) if isinstance(value, str) else value
    before = written()

    response = client_for(world.owner).post(
        f"{API}/sharing-rules/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == fields
    assert written() == before


def test_rules_need_manage_rights_on_the_owner(world, client_for):
    before = written()

    response = client_for(world.viewer).post(
        f"{API}/sharing-rules/",
        {"owner": world.a.pk, "asset_types": ["coupon"], "accounts": [world.b.pk]},
        format="json",
    )

    assert response.status_code == 403
    assert codes(response) == ["no_permission"]
    assert written() == before


def test_a_rule_naming_the_owner_as_target_is_refused(world, client_for):
    before = written()

    response = client_for(world.owner).post(
        f"{API}/sharing-rules/",
        {"owner": world.a.pk, "asset_types": ["coupon"], "accounts": [world.a.pk]},
        format="json",
    )

    assert response.status_code == 409
    assert codes(response) == ["same_account"]
    assert written() == before


def test_rules_are_listed_to_whoever_sees_the_owner(world, client_for):
    mine = services.create_sharing_rule(
        owner=world.a, asset_types=["coupon"], accounts=[world.b], actor=world.owner
    )
    services.create_sharing_rule(
        owner=world.x,
        asset_types=["coupon"],
        folder=world.x_folder,
        actor=world.stranger,
    )

    viewer = client_for(world.viewer).get(f"{API}/sharing-rules/").json()
    recipient = client_for(world.recipient).get(f"{API}/sharing-rules/").json()
    by_owner = client_for(world.operator).get(
        f"{API}/sharing-rules/", {"owner": world.a.pk}
    )

    assert [r["id"] for r in viewer["results"]] == [mine.pk]
    assert recipient["count"] == 0
    assert [r["id"] for r in by_owner.json()["results"]] == [mine.pk]


# --- a recipient's own deduct rule ----------------------------------------------------


def test_a_recipient_sets_the_products_a_shared_asset_skips(world, client_for):
    plan = provision(world, products=[])
    share_at(world, plan, [world.b])
    client = client_for(world.recipient)
    url = f"{API}/assets/{plan.pk}/recipient-rules/{world.b.pk}/"

    response = client.put(
        url, {"excluded_products": ["oss", "ecs", "oss"]}, format="json"
    )
    cleared = client.put(url, {"excluded_products": []}, format="json")

    assert response.status_code == 200, response.content
    rule = RecipientRule.objects.get()
    assert response.json() == {
        "asset": plan.pk,
        "recipient": world.b.pk,
        "excluded_products": ["ecs", "oss"],
        "updated_at": response.json()["updated_at"],
    }
    assert cleared.status_code == 200
    assert cleared.json()["excluded_products"] == []
    rule.refresh_from_db()
    assert rule.excluded_products == []


def test_an_excluded_product_is_not_deducted(world, client_for):
    plan = provision(world, products=[])
    share_at(world, plan, [world.b])
    services.set_recipient_rule(
        asset=plan,
        recipient=world.b,
        excluded_products=["ecs"],
        actor=world.recipient,
    )

    response = client_for(world.operator).post(
        f"{API}/usage/",
        usage_body(world.b, product="ecs", amount="3.00"),
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["deductions"] == []
    assert response.json()["skipped"] == [
        {
            "asset": plan.pk,
            "reason": "excluded_by_recipient",
            "message": "The account's own rule skips this product for this shared "
            "asset.",
        }
    ]
    assert response.json()["charged_amount"] == "3.00"


def test_recipient_rule_refusals(world, client_for):
    plan = provision(world)
    share_at(world, plan, [world.b])
    url = f"{API}/assets/{plan.pk}/recipient-rules/"
    body = {"excluded_products": ["ecs"]}
    before = written()

    owner = client_for(world.owner)
    viewer = client_for(world.viewer).put(f"{url}{world.a.pk}/", body, format="json")
    bad = owner.put(f"{url}{world.a.pk}/", {"excluded_products": "ecs"}, format="json")
    hidden = owner.put(f"{url}{world.b.pk}/", body, format="json")
    missing = owner.put(f"{url}{MISSING}/", body, format="json")
    not_a_recipient = owner.put(f"{url}{world.a.pk}/", body, format="json")
    never = client_for(world.operator).put(f"{url}{world.c.pk}/", body, format="json")

    # Only a recipient's owner or manage administrators set its rule: a ``use``
    # user gets 403, the owner's administrators a 404 for b (not theirs to see).
    assert viewer.status_code == 403
    assert codes(viewer) == ["no_permission"]
    assert bad.status_code == 400
    assert set(bad.json()) == {"excluded_products"}
    assert_same_404(hidden, missing)
    for response, account in ((not_a_recipient, world.a), (never, world.c)):
        assert response.status_code == 409
        assert response.json()["reasons"] == [
            {
                "code": "invalid_state",
                "message": f"The asset is not shared with account {account.uid} now.",
            }
        ]
    assert written() == before


# --- usage and deductions -------------------------------------------------------------

CHECK = RelationshipPermission.CHECK_TARGET_CONSUMPTION
USAGE_AT = datetime(2025, 3, 11, 10, 5, tzinfo=UTC)


def usage_body(account, **overrides) -> dict:
    body = {
        "external_id": f"bill-{UsageRecord.objects.count() + 1}",
        "account": account.pk,
        "product": "ecs",
        "bill_type": "pay_as_you_go",
        "usage_start": iso(USAGE_AT),
        "usage_end": iso(USAGE_AT + timedelta(hours=1)),
        "amount": "8.00",
        "billed_at": iso(USAGE_AT + timedelta(days=1)),
    }
    body.update(overrides)
    return body


def record(world, account, amount, at, **fields):
    usage, _created = services.record_usage(
        external_id=f"u-{UsageRecord.objects.count() + 1}",
        account=account,
        product=fields.pop("product", "ecs"),
        bill_type="pay_as_you_go",
        usage_start=at,
        usage_end=at + timedelta(minutes=30),
        amount=Decimal(amount),
        billed_at=at + timedelta(days=1),
        actor=world.operator,
        **fields,
    )
    return usage


def test_posting_usage_returns_its_real_deductions(world, client_for):
    plan = provision(world)  # 5.00 an hour
    scu = provision(world, "scu_package", products=["oss"])
    share_at(world, plan, [world.b])
    client = client_for(world.operator)

    first = client.post(f"{API}/usage/", usage_body(world.b), format="json")
    second = client.post(
        f"{API}/usage/",
        usage_body(world.b, amount="2.00", usage_start=iso(USAGE_AT)),
        format="json",
    )

    assert first.status_code == 201, first.content
    body = first.json()
    assert body["deductions"] == [
        {
            "source_type": "savings_plan",
            "source_id": plan.pk,
            "amount": "5.00",
            "capacity_before": "5.00",
            "capacity_after": "0.00",
        }
    ]
    assert body["skipped"] == []
    assert (body["charged_amount"], body["payer"]) == ("3.00", world.b.pk)
    assert second.json()["deductions"] == []
    assert second.json()["skipped"] == [
        {
            "asset": plan.pk,
            "reason": "hour_used_up",
            "message": "The asset's capacity for that hour was used up.",
        }
    ]
    assert second.json()["charged_amount"] == "2.00"
    # The owner's own SCU package covers only oss: its usage of oss draws on it.
    own = client.post(
        f"{API}/usage/",
        usage_body(world.a, product="oss", amount="30.00"),
        format="json",
    ).json()
    assert own["deductions"] == [
        {
            "source_type": "scu_package",
            "source_id": scu.pk,
            "amount": "30.00",
            "capacity_before": "100.00",
            "capacity_after": "70.00",
        }
    ]
    assert own["charged_amount"] == "0.00"
    # A re-send returns the first answer, deductions included.
    resent = client.post(
        f"{API}/usage/", {**usage_body(world.b), "external_id": "bill-1"}, format="json"
    )
    assert resent.status_code == 200
    assert resent.json() == body


def test_a_reserved_instance_deduction_has_no_money_capacity(world, client_for):
    ri = provision(world, "reserved_instance")

    response = client_for(world.operator).post(
        f"{API}/usage/",
        usage_body(
            world.a,
            amount="9.00",
            instance_type="ecs.g7.large",
            region="cn-hangzhou",
            quantity="3",
        ),
        format="json",
    )

    assert response.json()["deductions"] == [
        {
            "source_type": "reserved_instance",
            "source_id": ri.pk,
            "amount": "6.00",
            "capacity_before": None,
            "capacity_after": None,
        }
    ]
    assert response.json()["charged_amount"] == "3.00"


@pytest.fixture
def billed(world):
    """b's usage: before the share (nothing from the plan), within it (5.00 of
    8.00 from the plan), then later in that hour (the hour used up)."""
    plan = provision(world)
    share_at(world, plan, [world.b])
    early = record(world, world.b, "4.00", T_SHARE - timedelta(hours=1))
    covered = record(world, world.b, "8.00", USAGE_AT)
    late = record(world, world.b, "2.00", USAGE_AT + timedelta(minutes=20))
    own = record(world, world.a, "1.00", USAGE_AT + timedelta(hours=3), product="oss")
    return plan, early, covered, late, own


def test_usage_lists_each_record_with_its_deductions_newest_first(
    world, billed, client_for
):
    plan, early, covered, late, _own = billed

    response = client_for(world.recipient).get(f"{API}/usage/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == [late.pk, covered.pk, early.pk]
    assert body["results"][1] == {
        "id": covered.pk,
        "external_id": covered.external_id,
        "account": world.b.pk,
        "product": "ecs",
        "bill_type": "pay_as_you_go",
        "usage_start": iso(USAGE_AT),
        "usage_end": iso(USAGE_AT + timedelta(minutes=30)),
        "amount": "8.00",
        "currency": "CNY",
        "billed_at": iso(USAGE_AT + timedelta(days=1)),
        "instance_type": "",
        "region": "",
        "quantity": None,
        "deductions": [
            {
                "source_type": "savings_plan",
                "source_id": plan.pk,
                "amount": "5.00",
                "capacity_before": "5.00",
                "capacity_after": "0.00",
            }
        ],
        "skipped": [],
        "charged_amount": "3.00",
        "payer": world.b.pk,
        "charge": covered.charge_id,
    }
    assert body["results"][2]["skipped"] == [
        {
            "asset": plan.pk,
            "reason": "before_share_start",
            "message": "The usage started before this asset was shared with the "
            "account; a share applies only to usage after it began.",
        }
    ]
    assert body["results"][0]["skipped"][0]["reason"] == "hour_used_up"


def test_usage_is_seen_by_the_accounts_administrators_only(world, billed, client_for):
    _plan, early, covered, late, own = billed

    def ids(user, **query):
        response = client_for(user).get(f"{API}/usage/", query)
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert ids(world.owner) == {own.pk}
    assert ids(world.recipient) == {early.pk, covered.pk, late.pk}
    assert ids(world.recipient, account=world.a.pk) == set()
    assert ids(world.stranger) == set()
    assert ids(world.stranger, account=world.b.pk) == set()
    assert ids(world.operator, account=world.a.pk) == {own.pk}
    assert len(ids(world.operator)) == 4


@pytest.mark.parametrize("permissions", [[CHECK], []], ids=["check", "no_check"])
def test_a_management_account_sees_a_members_usage_under_check_target_consumption(
    world, billed, client_for, permissions
):
    _plan, early, covered, late, own = billed
    account_services.set_management_account(
        company=world.company, account=world.a, actor=world.operator
    )
    relationship = account_services.invite_member(
        management_account=world.a,
        member_account=world.b,
        type="financial_management",
        permissions=permissions,
        actor=world.owner,
    )
    account_services.confirm_relationship(
        relationship=relationship, actor=world.operator
    )

    response = client_for(world.viewer).get(f"{API}/usage/", {"account": world.b.pk})
    everything = client_for(world.viewer).get(f"{API}/usage/").json()

    members = [late.pk, covered.pk, early.pk] if permissions else []
    assert [r["id"] for r in response.json()["results"]] == members
    assert [r["id"] for r in everything["results"]] == [own.pk, *members]
    if permissions:
        assert response.json()["results"][1]["deductions"][0]["amount"] == "5.00"


def test_a_bad_usage_filter_is_a_400(world, client_for):
    response = client_for(world.owner).get(f"{API}/usage/", {"account": "b"})

    assert response.status_code == 400
    assert set(response.json()) == {"account"}


def test_the_deduction_log(world, billed, client_for):
    plan, _early, covered, _late, _own = billed
    deduction = Deduction.objects.get()
    row = {
        "id": deduction.pk,
        "usage": covered.pk,
        "usage_start": iso(USAGE_AT),
        "asset": plan.pk,
        "source_type": "savings_plan",
        "owner": world.a.pk,
        "beneficiary": world.b.pk,
        "amount": "5.00",
        "capacity_before": "5.00",
        "capacity_after": "0.00",
        "hour": iso(USAGE_AT.replace(minute=0)),
        "units": None,
        "created_at": iso(deduction.created_at),
    }

    def rows(user, **query):
        response = client_for(user).get(f"{API}/deductions/", query)
        assert response.status_code == 200, response.content
        return response.json()["results"]

    # The owner sees who its asset served; the recipient what it received.
    assert rows(world.owner) == [row]
    assert rows(world.recipient) == [row]
    assert rows(world.stranger) == []
    assert rows(world.operator, asset=plan.pk) == [row]
    assert rows(world.operator, asset=MISSING) == []
    assert rows(world.operator, beneficiary=world.b.pk) == [row]
    assert rows(world.operator, beneficiary=world.a.pk) == []
    assert rows(world.operator, account=world.a.pk) == [row]
    assert rows(world.operator, account=world.b.pk) == [row]
    assert rows(world.operator, account=world.c.pk) == []


@pytest.mark.parametrize("name", ["asset", "beneficiary", "account", "page"])
def test_a_bad_deduction_filter_is_a_400_naming_it(world, client_for, name):
    response = client_for(world.owner).get(f"{API}/deductions/", {name: "x"})

    assert response.status_code == 400
    assert set(response.json()) == {name}


def test_the_deduction_log_is_read_only(world, billed, client_for):
    client = client_for(world.operator)
    before = list(Deduction.objects.values_list("pk", "amount"))
    assert before  # there are lines to tamper with

    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(f"{API}/deductions/", {}, format="json")
        assert response.status_code == 405, (method, response.content)
    assert list(Deduction.objects.values_list("pk", "amount")) == before


# --- the resource directory keeps folders that sharing names -------------------------


@pytest.mark.parametrize("by", ["share", "rule"])
def test_a_folder_named_by_a_share_or_rule_cannot_be_deleted(
    world, client_for, operator, by
):
    """Was a 500 (the share's and the rule's foreign keys protect the folder)."""
    empty = account_services.create_folder(
        company=world.company, name="Empty", actor=operator
    )
    plan = provision(world)
    if by == "share":
        services.share_with_folder(asset=plan, folder=empty, actor=world.owner)
    else:
        services.create_sharing_rule(
            owner=world.a, asset_types=["coupon"], folder=empty, actor=world.owner
        )
    before = written()

    response = client_for(operator).delete(f"{API}/folders/{empty.pk}/")

    assert response.status_code == 409, response.content
    assert response.json()["reasons"] == [
        {
            "code": "folder_in_use",
            "message": "Folder Empty is named by asset shares or automatic sharing "
            "rules, which keep their history; it cannot be deleted.",
        }
    ]
    assert Folder.objects.filter(pk=empty.pk).exists()
    assert written() == before
