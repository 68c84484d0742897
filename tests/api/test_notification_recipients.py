"""A portal notice is seen by its recipient, not by everyone who sees the account."""

from accounts import services
from billing_portal import roles
from tests.api.helpers import API
from tests.factories import UserFactory


def test_a_notice_to_the_cbm_is_not_in_the_owners_list(
    make_account, company, operator, owner, grant, client_for
):
    cbm = UserFactory(username="the-cbm")
    cbm.groups.add(roles.ensure_groups()[roles.CBM])
    services.set_business_manager(company=company, user=cbm, actor=operator)
    account = make_account()
    grant(owner, account)
    services.update_account(
        account=account, actor=operator, partner_name="P", partner_mode="pay_on_behalf"
    )
    services.request_access(account=account, actor=owner)

    owner_rows = client_for(owner).get(f"{API}/notifications/").json()["results"]
    cbm_rows = client_for(cbm).get(f"{API}/notifications/").json()["results"]
    assert [(n["template"], n["to"]) for n in cbm_rows] == [
        ("access_requested", "the-cbm")
    ]
    assert all(n["to"] != "the-cbm" for n in owner_rows)
