"""The company page and its enterprise management account (issue 8): shown to
everyone who sees the company, set by an operator through the service, its
refusals shown as messages."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts import services
from accounts.models import Company
from billing_portal import roles
from billing_portal.models import AuditEvent
from tests.accounts.conftest_admin import messages_of, parse
from tests.factories import AccountFactory, UserFactory


def change_url(company):
    return reverse("admin:accounts_company_change", args=[company.pk])


def field_box(response, name):
    """The page's row for one field (editable or read-only)."""
    return next(
        (
            node
            for node in parse(response).iter()
            if f"field-{name}" in (node.attrs.get("class") or "").split()
        ),
        None,
    )


def form_data(company, **changes):
    data = {
        "name": company.name,
        "business_manager": company.business_manager_id or "",
        "management_account": company.management_account_id or "",
        "_save": "Save",
    }
    data.update(changes)
    return data


@pytest.fixture
def acme(company, make_account, operator, owner, grant):
    hq = make_account(name="Acme HQ", uid="1000000000000901")
    dev = make_account(name="Acme Dev", uid="1000000000000902")
    hidden = make_account(name="Acme Hidden", uid="1000000000000903")
    grant(owner, dev, "owner")
    return {"company": company, "hq": hq, "dev": dev, "hidden": hidden}


def test_operator_sees_a_select_of_the_companys_accounts(
    client, acme, operator, other_company
):
    AccountFactory(company=other_company, name="Globex HQ")
    client.force_login(operator)

    page = client.get(change_url(acme["company"]))

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert list(form.fields["management_account"].queryset) == [
        acme["hq"],
        acme["dev"],
        acme["hidden"],
    ]


def test_operator_sets_the_management_account_through_the_service(
    client, acme, operator
):
    client.force_login(operator)
    company = acme["company"]

    done = client.post(
        change_url(company), form_data(company, management_account=acme["hq"].pk)
    )

    assert done.status_code == 302, done.content.decode()[:3000]
    company.refresh_from_db()
    assert company.management_account == acme["hq"]
    event = AuditEvent.objects.get(action="company.set_management_account")
    assert (event.actor, event.before, event.after) == (
        operator,
        {"management_account": None},
        {"management_account": acme["hq"].pk},
    )
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Company), action_flag=CHANGE
    )
    assert "Management account" in entry.get_change_message()

    # Replacing it (no relationships yet) goes through the service again.
    client.post(
        change_url(company), form_data(company, management_account=acme["dev"].pk)
    )
    company.refresh_from_db()
    assert company.management_account == acme["dev"]
    assert (
        AuditEvent.objects.filter(action="company.set_management_account").count() == 2
    )


@pytest.mark.parametrize("role", ["owner", "cbm"])
def test_customers_and_cbms_read_it_and_cannot_set_it(
    client, acme, operator, owner, role
):
    company = acme["company"]
    services.set_management_account(company=company, account=acme["hq"], actor=operator)
    if role == "cbm":
        user = UserFactory(username="cbm")
        user.groups.add(roles.ensure_groups()[roles.CBM])
        Company.objects.filter(pk=company.pk).update(business_manager=user)
    else:
        user = owner
    client.force_login(user)

    page = client.get(change_url(company))

    assert page.status_code == 200
    box = field_box(page, "management_account_name")
    assert box is not None
    # Name and uid only, as text: the owner cannot open Acme HQ's page.
    assert "Acme HQ (1000000000000901)" in box.text
    assert box.find("a") is None
    assert box.find("select") is None
    refused = client.post(
        change_url(company), form_data(company, management_account=acme["dev"].pk)
    )
    assert refused.status_code == 403
    company.refresh_from_db()
    assert company.management_account == acme["hq"]


def test_a_company_without_one_shows_a_dash(client, acme, owner):
    client.force_login(owner)

    box = field_box(client.get(change_url(acme["company"])), "management_account_name")

    assert box.text.endswith("—")


def test_refusals_are_messages_and_nothing_is_saved(
    client, unverified_company, operator
):
    """An unverified company cannot designate one: the service's refusal is
    shown as messages (no 500) and the rest of the same save is rolled back."""
    account = AccountFactory(company=unverified_company, name="Initech One")
    client.force_login(operator)

    response = client.post(
        change_url(unverified_company),
        form_data(
            unverified_company, name="Initech Renamed", management_account=account.pk
        ),
        follow=True,
    )

    assert response.status_code == 200
    assert response.redirect_chain == [(change_url(unverified_company), 302)]
    assert messages_of(response) == [
        "The company was not saved.",
        f"Account {account.uid} does not belong to a company whose identity is "
        "verified.",
    ]
    unverified_company.refresh_from_db()
    assert unverified_company.management_account is None
    assert unverified_company.name == "Initech"
    assert not AuditEvent.objects.filter(action__startswith="company.").exists()
    assert not LogEntry.objects.exists()


def test_replacing_one_with_open_relationships_is_refused_as_a_message(
    client, acme, operator, owner, grant
):
    company = acme["company"]
    services.set_management_account(company=company, account=acme["hq"], actor=operator)
    services.invite_member(
        management_account=acme["hq"],
        member_account=acme["dev"],
        type="financial_management",
        permissions=[],
        actor=operator,
    )
    client.force_login(operator)

    response = client.post(
        change_url(company),
        form_data(company, management_account=acme["hidden"].pk),
        follow=True,
    )

    assert response.status_code == 200
    assert messages_of(response) == [
        "The company was not saved.",
        f"The management account of company {company.name} still has pending or "
        "active relationships; end them before designating another account.",
    ]
    company.refresh_from_db()
    assert company.management_account == acme["hq"]


def test_it_can_be_replaced_but_not_removed(client, acme, operator):
    company = acme["company"]
    services.set_management_account(company=company, account=acme["hq"], actor=operator)
    client.force_login(operator)

    response = client.post(
        change_url(company), form_data(company, management_account="")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {
        "management_account": ["The management account can be replaced, not removed."]
    }
    company.refresh_from_db()
    assert company.management_account == acme["hq"]


def test_another_companys_account_is_not_a_valid_choice(
    client, acme, operator, other_company
):
    theirs = AccountFactory(company=other_company, name="Globex HQ")
    client.force_login(operator)

    response = client.post(
        change_url(acme["company"]),
        form_data(acme["company"], management_account=theirs.pk),
    )

    assert response.status_code == 200
    assert "management_account" in response.context["adminform"].form.errors
    acme["company"].refresh_from_db()
    assert acme["company"].management_account is None


def test_the_company_list_shows_it(client, acme, operator):
    services.set_management_account(
        company=acme["company"], account=acme["hq"], actor=operator
    )
    client.force_login(operator)

    page = client.get(reverse("admin:accounts_company_changelist"))

    assert "Acme HQ (1000000000000901)" in page.content.decode()
