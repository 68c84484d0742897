"""Revoking a person's access to an account (issue 8): the service, the admin's
confirmation flow, and that the user then meets the account nowhere."""

from decimal import Decimal
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts import selectors, services
from accounts.models import Account, AccountAccess
from billing_portal.errors import AccessRefused, ActionForbidden
from billing_portal.models import AuditEvent, Notification
from tests.accounts.conftest_admin import (
    MISSING,
    messages_of,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
    result_rows,
    table_rows,
)
from tests.factories import UserFactory


def access_of(user, account):
    return AccountAccess.objects.filter(user=user, account=account).first()


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


# --- the service --------------------------------------------------------------


def test_revoke_access_removes_the_row_and_records_who_had_what(portal):
    access = access_of(portal.owner, portal.a_dev)
    granted_at = access.granted_at

    removed = services.revoke_access(
        account=portal.a_dev, user=portal.owner, actor=portal.operator
    )

    assert (removed.user, removed.account, removed.permission) == (
        portal.owner,
        portal.a_dev,
        "owner",
    )
    assert access_of(portal.owner, portal.a_dev) is None
    # The other grants of the user and of the account stay.
    assert access_of(portal.owner, portal.a_main) is not None
    assert access_of(portal.manager, portal.a_dev) is not None
    event = AuditEvent.objects.get(action="account.revoke_access")
    assert (event.actor, event.target_type, event.target_id) == (
        portal.operator,
        "accounts.account",
        str(portal.a_dev.pk),
    )
    assert event.before == {
        "user": portal.owner.pk,
        "username": "owner",
        "permission": "owner",
        "granted_at": granted_at.isoformat(),
        "granted_by": None,
    }
    assert event.after == {"user": portal.owner.pk, "permission": None}


def test_the_user_no_longer_sees_the_account(portal):
    services.revoke_access(
        account=portal.a_dev, user=portal.owner, actor=portal.operator
    )

    visible = selectors.list_visible_accounts(portal.owner)
    assert list(visible.values_list("name", flat=True)) == [
        "Acme Main",
        "Acme Dollar",
    ]
    assert not selectors.can_manage(portal.owner, portal.a_dev)
    assert not selectors.is_owner(portal.owner, portal.a_dev.pk)


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
def test_only_an_operator_revokes_access(portal, role):
    with pytest.raises(ActionForbidden) as excinfo:
        services.revoke_access(
            account=portal.a_main, user=portal.viewer, actor=portal.user(role)
        )

    assert [r.code for r in excinfo.value.reasons] == ["no_permission"]
    assert access_of(portal.viewer, portal.a_main) is not None
    assert not AuditEvent.objects.filter(action="account.revoke_access").exists()


def test_revoking_access_the_user_does_not_have_is_refused(portal):
    with pytest.raises(AccessRefused) as excinfo:
        services.revoke_access(
            account=portal.a_usd, user=portal.viewer, actor=portal.operator
        )

    assert [r.code for r in excinfo.value.reasons] == ["no_access"]
    assert excinfo.value.status == 409
    assert not AuditEvent.objects.filter(action="account.revoke_access").exists()


def test_revoke_access_rolls_back_when_the_audit_record_fails(portal):
    with (
        mock.patch(
            "accounts.services.funds.audit.record", side_effect=RuntimeError("disk")
        ),
        pytest.raises(RuntimeError),
    ):
        services.revoke_access(
            account=portal.a_main, user=portal.viewer, actor=portal.operator
        )

    assert access_of(portal.viewer, portal.a_main) is not None


def test_access_can_be_granted_again_after_revocation(portal):
    services.revoke_access(
        account=portal.a_main, user=portal.viewer, actor=portal.operator
    )
    services.grant_access(
        account=portal.a_main,
        user=portal.viewer,
        permission="use",
        actor=portal.operator,
    )

    assert access_of(portal.viewer, portal.a_main).granted_by == portal.operator
    assert list(
        AuditEvent.objects.filter(target_id=str(portal.a_main.pk))
        .filter(action__in=["account.grant_access", "account.revoke_access"])
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["account.revoke_access", "account.grant_access"]


def test_accounts_left_without_owner_counts_every_selected_owner(portal):
    second = UserFactory(username="second-owner")
    services.grant_access(
        account=portal.a_main, user=second, permission="owner", actor=portal.operator
    )
    rows = list(AccountAccess.objects.filter(account=portal.a_main))
    owners = [r for r in rows if r.permission == "owner"]

    assert selectors.list_accounts_left_without_owner(owners[:1]) == []
    assert selectors.list_accounts_left_without_owner(owners) == [portal.a_main]
    viewer = [r for r in rows if r.user == portal.viewer]
    assert selectors.list_accounts_left_without_owner(viewer) == []


# --- the admin: the delete_selected flow ------------------------------------------


def _select(rows):
    return [str(r.pk) for r in rows]


def test_operator_revokes_selected_access_after_a_confirmation(client, portal):
    client.force_login(portal.operator)
    rows = [
        access_of(portal.owner, portal.a_dev),
        access_of(portal.viewer, portal.a_main),
    ]
    changelist = url("accounts_accountaccess_changelist")
    data = {"action": "revoke_selected", "_selected_action": _select(rows)}

    review = client.post(changelist, data)

    assert review.status_code == 200
    root = parse(review)
    assert [r[:3] for r in table_rows(root.find("tbody"))] == [
        ["viewer", "Use", "Acme Main (1000000000000101)"],
        ["owner", "Owner", "Acme Dev (1000000000000102)"],
    ]
    assert "Yes, revoke" in review.content.decode()
    # Nothing happens on the review.
    assert access_of(portal.owner, portal.a_dev) is not None
    assert not AuditEvent.objects.filter(action="account.revoke_access").exists()

    done = client.post(changelist, {**data, "post": "yes"}, follow=True)

    assert done.redirect_chain == [(changelist, 302)]
    assert messages_of(done) == ["Revoked 2 access grants."]
    assert access_of(portal.owner, portal.a_dev) is None
    assert access_of(portal.viewer, portal.a_main) is None
    assert AuditEvent.objects.filter(action="account.revoke_access").count() == 2
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Account),
        user=portal.operator,
        action_flag=CHANGE,
    ).order_by("pk")
    assert [(e.object_id, e.change_message) for e in entries] == [
        (str(portal.a_main.pk), "Revoked use access of viewer."),
        (str(portal.a_dev.pk), "Revoked owner access of owner."),
    ]


def test_the_confirmation_warns_when_an_account_loses_its_last_owner(client, portal):
    client.force_login(portal.operator)
    access = access_of(portal.owner, portal.a_usd)

    review = client.get(url("accounts_accountaccess_revoke", access.pk))

    assert review.status_code == 200
    page = review.content.decode()
    assert "will have no owner left" in page
    assert "Acme Dollar (1000000000000103)" in page.split("no owner left")[1]


def test_operator_revokes_one_access_from_its_page(client, portal):
    client.force_login(portal.operator)
    access = access_of(portal.manager, portal.a_main)
    page = client.get(url("accounts_accountaccess_change", access.pk))
    revoke_url = url("accounts_accountaccess_revoke", access.pk)
    assert revoke_url in page.content.decode()

    review = client.get(revoke_url)
    assert review.status_code == 200
    assert access_of(portal.manager, portal.a_main) is not None

    done = client.post(revoke_url, follow=True)

    assert done.redirect_chain == [(url("accounts_accountaccess_changelist"), 302)]
    assert messages_of(done) == ["Revoked 1 access grant."]
    assert access_of(portal.manager, portal.a_main) is None
    listed = [(r[0], r[1]) for r in result_rows(done)]
    assert ("manager", str(portal.a_dev)) in listed
    assert ("manager", str(portal.a_main)) not in listed


def test_a_row_revoked_meanwhile_is_reported_not_a_server_error(client, portal):
    client.force_login(portal.operator)
    access = access_of(portal.manager, portal.a_main)
    revoke_url = url("accounts_accountaccess_revoke", access.pk)
    stale = AccountAccess.objects.get(pk=access.pk)
    services.revoke_access(
        account=portal.a_main, user=portal.manager, actor=portal.operator
    )

    # The page looked the row up before another operator revoked it.
    with mock.patch.object(
        type(admin.site._registry[AccountAccess]), "get_object", return_value=stale
    ):
        done = client.post(revoke_url, follow=True)

    assert done.status_code == 200
    assert messages_of(done) == [
        f"User manager has no access to account {portal.a_main.uid}; "
        "there is nothing to revoke."
    ]


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
def test_customers_cannot_revoke_access(client, portal, role):
    client.force_login(portal.user(role))
    access = access_of(portal.viewer, portal.a_main)
    revoke_url = url("accounts_accountaccess_revoke", access.pk)

    assert client.get(revoke_url).status_code == 403
    assert client.post(revoke_url).status_code == 403
    assert client.get(url("accounts_accountaccess_revoke", MISSING)).status_code == 403
    response = client.post(
        url("accounts_accountaccess_changelist"),
        {"action": "revoke_selected", "_selected_action": [access.pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert access_of(portal.viewer, portal.a_main) is not None


def test_after_revocation_the_admin_answers_the_account_like_a_missing_id(
    client, portal
):
    client.force_login(portal.operator)
    access = access_of(portal.viewer, portal.a_main)
    client.post(url("accounts_accountaccess_revoke", access.pk))

    client.force_login(portal.viewer)
    overview = result_rows(client.get(url("accounts_account_changelist")))
    assert [r[0] for r in overview] == [portal.a_dev.uid]
    seen = client.get(url("accounts_account_change", portal.a_main.pk), follow=True)
    missing = client.get(url("accounts_account_change", MISSING), follow=True)
    assert seen.redirect_chain == missing.redirect_chain == [(url("index"), 302)]
    assert [
        m.replace(f"\u201c{portal.a_main.pk}\u201d", "{id}") for m in messages_of(seen)
    ] == [m.replace(f"\u201c{MISSING}\u201d", "{id}") for m in messages_of(missing)]


def test_the_accounts_portal_notices_go_with_the_access(portal):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=Decimal("1000.00"),
        actor=portal.operator,
    )
    for account in (portal.a_main, portal.a_dev):
        services.set_credit_limit(
            account=account, amount=Decimal("10.00"), actor=portal.operator
        )

    def notices():
        return sorted(
            n.account.name
            for n in selectors.list_visible_notifications(portal.owner)
            if n.channel == Notification.Channel.PORTAL
        )

    assert notices() == ["Acme Dev", "Acme Main"]

    services.revoke_access(
        account=portal.a_dev, user=portal.owner, actor=portal.operator
    )

    assert notices() == ["Acme Main"]
