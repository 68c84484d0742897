"""Property-based fuzzing of the whole API from its OpenAPI schema (SPEC §8).

Schemathesis reads ``/api/schema/`` from the test app and sends generated
requests (valid and invalid) to every operation, as an operator and as a
customer. Checks: never a 5xx, every status code, content type and body as the
schema documents them. Examples per operation are bounded (and derandomized:
the same cases every run) so that the run takes about half a minute on a small
machine; ``FUZZ_EXAMPLES=80`` explores longer. Schemathesis' pytest loader
(``from_fixture``) does not run under pytest 9.2, so Hypothesis drives each
operation's ``as_strategy()`` here.
"""

import itertools
import os
from datetime import timedelta
from decimal import Decimal as D

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services
from coupons import services as coupon_services
from sharing import services as sharing_services
from tests.factories import AccountFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "8"))

#: Path prefix → the kind of object its ``{id}`` names (first match wins).
PATH_OBJECTS = [
    ("/api/v1/accounts/", "account"),
    ("/api/v1/companies/", "company"),
    ("/api/v1/folders/", "folder"),
    ("/api/v1/relationships/", "relationship"),
    ("/api/v1/contracts/", "contract"),
    ("/api/v1/access-requests/", "access_request"),
    ("/api/v1/access-exceptions/", "access_exception"),
    ("/api/v1/transfers/", "transfer"),
    ("/api/v1/revocations/", "revocation"),
    ("/api/v1/assets/", "asset"),
    ("/api/v1/credit-pools/", "pool"),
    ("/api/v1/coupons/", "coupon"),
]

#: Other path parameters → the world's object they name in the real cases.
PATH_PARAMETERS = {"account": "member", "folder": "folder"}


@pytest.fixture
def world(db, company, make_account, operator, owner, grant, fund, cbm):
    """One company with money, a transfer, a revocation, a relationship, a
    folder, a pending contract, an access request and its exception, a shared
    savings plan, a product, an approved credit pool and a coupon: so that
    generated ids in paths reach real objects as well as missing ones."""
    hq, member, other = make_account(), make_account(), make_account()
    for account in (hq, member, other):
        grant(owner, account)
    fund(hq, "1000.00")
    services.set_business_manager(company=company, user=cbm, actor=operator)
    services.set_management_account(company=company, account=hq, actor=operator)
    services.set_credit_quota(
        company=company, currency="CNY", amount=D("500.00"), actor=operator
    )
    transfer = services.transfer_balance(
        source=hq, destination=member, amount=D("100.00"), actor=operator
    )
    revocation = services.revoke_transfer(
        source=hq, destination=member, amount=D("10.00"), actor=operator
    )
    relationship = services.invite_member(
        management_account=hq,
        member_account=member,
        type="financial_management",
        permissions=[],
        actor=owner,
    )
    folder = services.create_folder(company=company, name="Eng", actor=operator)
    _status, contract = services.set_credit_limit(
        account=other, amount=D("10.00"), actor=owner
    )
    services.update_account(
        account=other,
        actor=operator,
        partner_name="Partner",
        partner_mode="pay_on_behalf",
    )
    request = services.request_access(account=other, actor=owner)
    exception = services.grant_access_request(request=request, actor=cbm)
    coupon_services.create_product(code="ecs", name="ECS", actor=operator)
    # A small pool: generated issuances (up to 1000 coupons) stay few and cheap.
    pool = coupon_services.request_pool(
        company=company,
        distribution_target="enterprise_management_account",
        management_account=hq,
        products=["ecs"],
        bill_types=["subscription"],
        valid_from=timezone.now() - timedelta(days=1),
        valid_until=timezone.now() + timedelta(days=30),
        amount=D("1.00"),
        actor=cbm,
    )
    pool = coupon_services.approve_pool(pool=pool, actor=operator)
    (coupon,) = coupon_services.issue_coupons(
        pool=pool, accounts=[hq], count=1, face_value=D("0.50"), actor=owner
    )
    AccountFactory()  # another company's account: never visible to the customer
    asset = _shared_plan(hq, member, folder, operator, owner)
    return {
        "product": "ecs",
        "pool": pool.pk,
        "coupon": coupon.pk,
        "account": hq.pk,
        "member": member.pk,
        "user": owner.pk,
        "company": company.pk,
        "folder": folder.pk,
        "relationship": relationship.pk,
        "contract": contract.pk,
        "access_request": request.pk,
        "access_exception": exception.pk,
        "transfer": transfer.pk,
        "revocation": revocation.pk,
        "asset": asset.pk,
    }


def _shared_plan(owner_account, recipient, folder, operator, user):
    """A savings plan shared with ``recipient`` and with ``folder`` (pending),
    a rule, and usage of the recipient that the plan deducted."""
    now = timezone.now()
    plan = sharing_services.provision_asset(
        type="savings_plan",
        owner=owner_account,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        commitment_per_hour=D("5.00"),
        actor=operator,
    )
    sharing_services.share_with_accounts(asset=plan, accounts=[recipient], actor=user)
    sharing_services.share_with_folder(asset=plan, folder=folder, actor=user)
    sharing_services.create_sharing_rule(
        owner=owner_account, asset_types=["coupon"], folder=folder, actor=user
    )
    sharing_services.record_usage(
        external_id="fuzz-1",
        account=recipient,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=now + timedelta(seconds=1),
        usage_end=now + timedelta(hours=1),
        amount=D("8.00"),
        billed_at=now + timedelta(hours=2),
        actor=operator,
    )
    return plan


@pytest.fixture(params=["operator", "customer"])
def auth_headers(request, world, operator, owner):
    user = operator if request.param == "operator" else owner
    token, _created = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, called in-process inside the test's transaction.

    Like Django's test client, keep the connection open between requests:
    closing "old" connections at the end of a request would end the test's
    transaction (and its rollback).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)
    return schema


#: Body fields that name objects → the world's object they get (as a list for
#: list fields), so that valid bodies reach the services and not only the 400s.
BODY_OBJECTS = {
    "source": "account",
    "destination": "member",
    "account": "account",
    "management_account": "account",
    "member_account": "member",
    "company": "company",
    "user": "user",
    "parent": "folder",
    "folder": "folder",
    "accounts": "member",
    "owner": "account",
    "products": "product",
}


def _name_real_objects(case, world) -> None:
    if not isinstance(case.body, dict):
        return
    for field, kind in BODY_OBJECTS.items():
        if field in case.body:
            value = world[kind]
            case.body[field] = [value] if isinstance(case.body[field], list) else value


def _strategy(operation, mode, headers, world):
    """Cases for one operation: when its path names an object, two in three
    name a real one of the world (the rest keep a generated, mostly missing,
    id: its 404 must be the documented one)."""
    generated = operation.as_strategy(mode, headers=headers)
    if "{id}" not in operation.path:
        return generated
    kind = next(
        kind for prefix, kind in PATH_OBJECTS if operation.path.startswith(prefix)
    )
    named = {
        name: world[kind]
        for name, kind in PATH_PARAMETERS.items()
        if f"{{{name}}}" in operation.path
    }
    real = operation.as_strategy(
        mode, headers=headers, path_parameters={"id": world[kind], **named}
    )
    return st.one_of(real, real, generated)


def _fuzz(operation, mode, headers, world) -> None:
    """Run one operation's cases in one generation mode; raise on a failure."""
    turns = itertools.count()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, headers, world))
    def call(case):
        # Positive cases name real objects in their body every other time
        # (random ids would only ever meet "does not exist").
        if mode is GenerationMode.POSITIVE and next(turns) % 2:
            _name_real_objects(case, world)
        case.call_and_validate(checks=CHECKS)

    call()


def test_the_api_keeps_its_schema_and_never_fails(api_schema, auth_headers, world):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, auth_headers, world)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # every failing operation, not the first
                failures.append(f"{operation.label} ({mode.value}): {exc!r}")
    assert not failures, "\n\n".join(failures)
