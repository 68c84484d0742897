"""DELETE /accounts/{id}/access/{user_id}/ (issue 8): status codes in the SPEC §8
check order, and that the user then meets the account nowhere in the API."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AccountAccess
from billing_portal.models import AuditEvent
from tests.api.helpers import API
from tests.factories import UserFactory


@pytest.fixture
def world(company, other_company, make_account, grant, owner):
    """A's account with an owner and a viewer; B's account with its own owner."""
    mine = make_account(name="Mine")
    theirs = make_account(name="Theirs", company=other_company)
    viewer = UserFactory(username="viewer")
    stranger = UserFactory(username="stranger")
    grant(owner, mine, "owner")
    grant(viewer, mine, "use")
    grant(stranger, theirs, "owner")
    return {
        "mine": mine,
        "theirs": theirs,
        "owner": owner,
        "viewer": viewer,
        "stranger": stranger,
    }


def access_url(account, user):
    account_pk = getattr(account, "pk", account)
    user_pk = getattr(user, "pk", user)
    return f"{API}/accounts/{account_pk}/access/{user_pk}/"


def has_access(user, account):
    return AccountAccess.objects.filter(user=user, account=account).exists()


def test_operator_revokes_access_with_204(world, operator, client_for):
    response = client_for(operator).delete(access_url(world["mine"], world["viewer"]))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not has_access(world["viewer"], world["mine"])
    assert has_access(world["owner"], world["mine"])
    event = AuditEvent.objects.get(action="account.revoke_access")
    assert (event.actor, event.target_id) == (operator, str(world["mine"].pk))
    assert event.before["permission"] == "use"


def test_after_revocation_the_user_gets_404_for_the_account(
    world, operator, client_for
):
    viewer = client_for(world["viewer"])
    mine = world["mine"].pk
    assert viewer.get(f"{API}/accounts/{mine}/").status_code == 200

    client_for(operator).delete(access_url(mine, world["viewer"]))

    for path in ("", "transferable/", "ledger/"):
        response = viewer.get(f"{API}/accounts/{mine}/{path}")
        missing = viewer.get(f"{API}/accounts/999999/{path}")
        assert response.status_code == missing.status_code == 404, path
        assert response.json() == missing.json()
    assert viewer.get(f"{API}/accounts/").json()["results"] == []
    assert viewer.get(f"{API}/companies/").json()["results"] == []


def test_a_second_revocation_is_a_404(world, operator, client_for):
    client = client_for(operator)
    assert client.delete(access_url(world["mine"], world["viewer"])).status_code == 204

    again = client.delete(access_url(world["mine"], world["viewer"]))

    assert again.status_code == 404
    assert again.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("account", "user"),
    [
        ("mine", "stranger"),  # the user has no access there
        ("mine", 999999),  # no such user
        (999999, "viewer"),  # no such account
    ],
)
def test_operator_gets_404_without_such_access(
    world, operator, client_for, account, user
):
    account = world.get(account, account)
    user = world.get(user, user)
    before = AccountAccess.objects.count()

    response = client_for(operator).delete(access_url(account, user))

    assert response.status_code == 404
    assert AccountAccess.objects.count() == before


def test_another_companys_account_is_a_404_before_anything_else(world, client_for):
    """Not visible: 404 whatever the user in the path, the body or the role."""
    client = client_for(world["owner"])
    theirs = world["theirs"]

    seen = client.delete(access_url(theirs, world["stranger"]), {"x": 1}, format="json")
    missing = client.delete(access_url(999999, world["stranger"]))

    assert seen.status_code == missing.status_code == 404
    assert seen.json() == missing.json()
    assert has_access(world["stranger"], theirs)


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_customers_get_403_no_permission_on_a_visible_account(world, client_for, who):
    response = client_for(world[who]).delete(access_url(world["mine"], world["viewer"]))

    assert response.status_code == 403
    assert response.json()["code"] == "no_permission"
    assert has_access(world["viewer"], world["mine"])


def test_a_customer_naming_a_user_without_access_gets_404_first(world, client_for):
    response = client_for(world["owner"]).delete(
        access_url(world["mine"], world["stranger"])
    )

    assert response.status_code == 404


def test_a_body_is_refused_with_400_before_the_permission(world, operator, client_for):
    for client in (client_for(world["owner"]), client_for(operator)):
        response = client.delete(
            access_url(world["mine"], world["viewer"]),
            {"permission": "use"},
            format="json",
        )
        assert response.status_code == 400
        assert response.json() == {"permission": ["Unknown field."]}
    assert has_access(world["viewer"], world["mine"])


def test_anonymous_gets_401(world):
    response = APIClient().delete(access_url(world["mine"], world["viewer"]))

    assert response.status_code == 401
    assert has_access(world["viewer"], world["mine"])
