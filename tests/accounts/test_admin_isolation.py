"""Every admin URL of every registered model answers an object outside the
user's reach exactly like an id that does not exist (SPEC §1, §8).

The matrix is generated from ``admin.site._registry``: each model admin, each
of its URL patterns that names an object (change, history, delete, the bare
``<id>/`` redirect and every custom view), GET and POST, for every customer
role, compared byte for byte with a missing id once the id itself and the
CSRF token are normalised. A model admin added later is covered without
editing this file; one whose URL takes a parameter this file does not know
fails the test until it is taught here.
"""

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import UUIDField
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.authtoken.models import Token, TokenProxy

from accounts import services
from accounts.models import Account, Company
from billing_portal.admin_base import ScopedAdmin
from coupons.services import approve_pool, issue_coupons, request_pool, save_product
from sharing import services as sharing
from tests.accounts.conftest_admin import (
    MISSING,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
)
from tests.factories import AccountFactory, UserFactory

CUSTOMERS = ["owner", "manager", "viewer", "cbm", "outsider"]
#: URL parameters other than the object's id: every alternative is tried.
KNOWN_CHOICES = {"decision", "action", "direction"}
#: URL parameters naming an object of another model than the admin's own.
OTHER_MODEL_PARAMS = {"company_id": Company}


# --- the world: one object of every registered model in each company ---------------


def _company_objects(company, cbm, operator, prefix):
    """A contract, an access request with its exception and the notice to the
    CBM, an overdue episode, a pending relationship and a coupon credit pool
    with a coupon in ``company``."""

    def account(n, **kwargs):
        return AccountFactory(
            company=company, uid=f"{prefix}{n:015d}", name=f"{company} {n}", **kwargs
        )

    services.set_credit_quota(
        company=company, currency="CNY", amount=Decimal("1000.00"), actor=operator
    )
    limited = account(1)
    services.set_credit_limit(account=limited, amount=Decimal("10.00"), actor=operator)
    partner = account(2)
    services.update_account(
        account=partner,
        actor=operator,
        partner_name="Partner",
        partner_mode=Account.PartnerMode.PAY_ON_BEHALF,
    )
    Company.objects.filter(pk=company.pk).update(business_manager=cbm)
    request = services.request_access(account=partner, actor=operator)
    services.grant_access_request(request=request, actor=cbm)
    services.charge_usage(
        usage_account=account(3),
        amount=Decimal("5.00"),
        effective_at=timezone.now() - timedelta(hours=1),
        actor=operator,
    )
    services.set_management_account(company=company, account=limited, actor=operator)
    services.invite_member(
        management_account=limited,
        member_account=partner,
        type="financial_management",
        permissions=[],
        actor=operator,
    )
    # An approved coupon credit pool of the company with one coupon.
    pool = request_pool(
        company=company,
        distribution_target="enterprise_management_account",
        management_account=limited,
        products=[],
        bill_types=["pay_as_you_go"],
        valid_from=timezone.now() - timedelta(days=1),
        valid_until=timezone.now() + timedelta(days=30),
        amount=Decimal("100.00"),
        actor=cbm,
    )
    approve_pool(pool=pool, actor=operator)
    issue_coupons(
        pool=pool,
        accounts=[limited],
        count=1,
        face_value=Decimal("5.00"),
        actor=operator,
    )
    _sharing_objects(limited, partner, operator)


def _sharing_objects(owner, recipient, operator):
    """An asset shared with an account, a usage record it deducted (a
    deduction), and an automatic sharing rule (SPEC §4)."""
    now = timezone.now()
    plan = sharing.provision_asset(
        type="savings_plan",
        owner=owner,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        commitment_per_hour=Decimal("5.00"),
        actor=operator,
    )
    sharing.share_with_accounts(asset=plan, accounts=[recipient], actor=operator)
    sharing.record_usage(
        external_id=f"shared-{owner.uid}",
        account=recipient,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=timezone.now(),
        usage_end=timezone.now(),
        amount=Decimal("2.00"),
        billed_at=timezone.now(),
        actor=operator,
    )
    sharing.create_sharing_rule(
        owner=owner, asset_types=["coupon"], accounts=[recipient], actor=operator
    )


@pytest.fixture
def world(portal):
    b_cbm = UserFactory(username="globex-cbm")
    b_cbm.groups.add(Group.objects.get(name="cbm"))
    _company_objects(portal.company, portal.cbm, portal.operator, "7")
    _company_objects(portal.other_company, b_cbm, portal.operator, "8")
    save_product(code="ecs", name="Elastic Compute", actor=portal.operator)
    for user in (portal.owner, portal.outsider):
        Token.objects.create(user=user)
    DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="billing_portal.tasks.send_notification",
        backend_name="default",
        run_after=timezone.now(),
        exception_class_path="",
        traceback="",
    )
    # The login lockout's records (django-axes): operators' superusers only.
    seen = {"user_agent": "test", "ip_address": "203.0.113.5", "path_info": "/"}
    AccessAttempt.objects.create(
        username="intruder",
        http_accept="*/*",
        get_data="",
        post_data="",
        failures_since_start=1,
        **seen,
    )
    AccessLog.objects.create(username="owner", http_accept="*/*", **seen)
    AccessFailureLog.objects.create(
        username="intruder", http_accept="*/*", locked_out=False, **seen
    )
    return portal


# --- the matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    model_admin: object
    name: str
    route: str
    params: tuple


def _probes():
    """Every URL pattern of every registered model admin that names an object."""
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            params = tuple(pattern.pattern.regex.groupindex)
            if "object_id" in params or set(params) & set(OTHER_MODEL_PARAMS):
                yield Probe(model_admin, pattern.name, str(pattern.pattern), params)


def _choices(route, param):
    match = re.search(rf"\(\?P<{param}>([\w|]+)\)", route)
    assert match, f"cannot read the values of {param} in {route}"
    return match.group(1).split("|")


def _url_id(model_admin, obj):
    # DRF's token admin addresses a token by its user's id.
    if model_admin.model is TokenProxy:
        return obj.user_id
    return obj.pk


def _missing_id(model):
    if isinstance(model._meta.pk, UUIDField):
        return uuid.UUID("00000000-0000-4000-8000-000000000000")
    return MISSING


def _out_of_reach(model_admin, user, model):
    """One object of ``model`` the user may not reach through its admin."""
    site_admin = admin.site._registry.get(model, model_admin)
    request = RequestFactory().get("/")
    request.user = user
    rows = model._default_manager.order_by("pk")
    if site_admin.has_view_or_change_permission(request):
        rows = rows.exclude(pk__in=site_admin.get_queryset(request).values("pk"))
    return rows.first()


def _urls(probe, ids):
    """(url, id strings) for each combination of the probe's choice parameters."""
    choice_params = [p for p in probe.params if p in KNOWN_CHOICES]
    unknown = (
        set(probe.params) - KNOWN_CHOICES - {"object_id"} - set(OTHER_MODEL_PARAMS)
    )
    assert not unknown, f"teach this test the parameters {unknown} of {probe.route}"
    for values in itertools.product(*(_choices(probe.route, p) for p in choice_params)):
        kwargs = {**dict(zip(choice_params, values, strict=True)), **ids}
        if probe.name is None:
            # The bare "<id>/" pattern (a redirect to the change page).
            opts = probe.model_admin.opts
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            yield f"{changelist}{quote(ids['object_id'])}/"
        else:
            yield reverse(f"admin:{probe.name}", kwargs=kwargs)


_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def _normalised(text, ids):
    text = _CSRF.sub(r'\1{csrf}"', text)
    for value in ids:
        value = quote(str(value))
        text = text.replace(f"/{value}/", "/{id}/")
        text = text.replace(f"\u201c{value}\u201d", "\u201c{id}\u201d")
    return text


def _answer(client, method, url, ids):
    response = getattr(client, method)(url, follow=True)
    chain = [(_normalised(u, ids), status) for u, status in response.redirect_chain]
    # A page of the portal (its 404 too) echoes the address asked for in its
    # language switch ("next"): that is the reader's own input, and an id in it
    # may collide with another number of the URL (a content type's id).
    content = response.content.decode().replace(f'value="{url}"', 'value="{url}"')
    return (
        response.status_code,
        response.get("Content-Type"),
        chain,
        _normalised(content, ids),
    )


def _snapshot():
    """Every row of every registered model: nothing may change."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in admin.site._registry
        if model is not TokenProxy
    } | {"tokens": list(Token.objects.order_by("pk").values())}


def test_every_registered_model_admin_goes_through_the_scoping_point():
    not_scoped = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, ScopedAdmin)
    ]
    assert not_scoped == []
    labels = {model._meta.label for model in admin.site._registry}
    assert {"auth.User", "auth.Group", "authtoken.TokenProxy"} <= labels


@pytest.mark.parametrize("role", CUSTOMERS)
def test_every_admin_url_answers_out_of_reach_like_a_missing_id(client, world, role):
    user = world.user(role)
    client.force_login(user)
    before = _snapshot()
    differences = []
    covered = set()
    for probe in _probes():
        model = probe.model_admin.model
        found, missing = {}, {}
        for param in probe.params:
            target = OTHER_MODEL_PARAMS.get(
                param, model if param == "object_id" else None
            )
            if target is None:
                continue
            obj = _out_of_reach(probe.model_admin, user, target)
            assert obj is not None, f"no {target._meta.label} out of reach of {role}"
            found[param] = _url_id(probe.model_admin, obj)
            missing[param] = _missing_id(target)
        ids = [*found.values(), *missing.values()]
        for method in ("get", "post"):
            for seen_url, missing_url in zip(
                _urls(probe, found), _urls(probe, missing), strict=True
            ):
                seen = _answer(client, method, seen_url, ids)
                absent = _answer(client, method, missing_url, ids)
                covered.add((model._meta.label, probe.name or "<id>/"))
                if seen != absent:
                    differences.append(
                        (method, seen_url, seen[:3], missing_url, absent[:3])
                    )

    assert differences == []
    assert _snapshot() == before
    # The matrix reached every registered model and their history pages.
    assert {label for label, _name in covered} == {
        model._meta.label for model in admin.site._registry
    }
    assert ("auth.User", "auth_user_history") in covered
    assert ("authtoken.TokenProxy", "authtoken_tokenproxy_history") in covered


@pytest.mark.parametrize("role", ["owner", "outsider"])
def test_the_sites_view_on_site_link_answers_like_a_missing_id(client, world, role):
    """``admin/r/<content type>/<id>/`` (the site's own object URL) as well."""
    user = world.user(role)
    client.force_login(user)
    differences = []
    for model, model_admin in admin.site._registry.items():
        content_type = ContentType.objects.get_for_model(
            model, for_concrete_model=False
        )
        obj = _out_of_reach(model_admin, user, model)
        ids = [obj.pk, _missing_id(model)]
        seen, absent = (
            _answer(
                client,
                "get",
                reverse("admin:view_on_site", args=[content_type.pk, quote(pk)]),
                ids,
            )
            for pk in ids
        )
        if seen != absent:
            differences.append((model._meta.label, seen[:3], absent[:3]))
    assert differences == []


def test_operator_only_history_pages_answer_403_for_every_id(client, world):
    """The case that leaked: a customer on an operator-only model's history got
    403 for an existing id and "doesn't exist" for a missing one."""
    client.force_login(world.owner)
    access = world.outsider.account_access.first()
    history = reverse("admin:accounts_accountaccess_history", args=[access.pk])
    missing = reverse("admin:accounts_accountaccess_history", args=[MISSING])

    assert client.get(history).status_code == client.get(missing).status_code == 403


def test_superusers_still_manage_users_groups_and_tokens(client, world):
    root = get_user_model().objects.create_superuser("root", password="pass-word-123")
    client.force_login(root)
    owner = world.owner

    for name, arg in (
        ("auth_user_change", owner.pk),
        ("auth_user_history", owner.pk),
        ("auth_group_change", Group.objects.get(name="cbm").pk),
        ("authtoken_tokenproxy_change", owner.pk),
        ("django_tasks_database_dbtaskresult_change", DBTaskResult.objects.get().pk),
    ):
        response = client.get(reverse(f"admin:{name}", args=[arg]))
        assert response.status_code == 200, name
    listed = client.get(reverse("admin:auth_user_changelist"))
    assert "outsider" in listed.content.decode()
    response = client.post(
        reverse("admin:auth_user_change", args=[owner.pk]),
        {
            "username": "owner",
            "is_active": "",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    owner.refresh_from_db()
    assert not owner.is_active
    # Task results stay read-only, as their library made them.
    task = DBTaskResult.objects.get()
    assert (
        client.post(
            reverse("admin:django_tasks_database_dbtaskresult_delete", args=[task.pk]),
            {"post": "yes"},
        ).status_code
        == 403
    )
