"""The account page shows the first transfer pairs; the rest are paginated."""

import pytest

from accounts.selectors import PANEL_ROWS


@pytest.fixture
def busy_sender(make_account, fund, transfer, owner, grant):
    source = make_account()
    grant(owner, source, "owner")
    fund(source, "1000.00")
    receivers = [make_account() for _ in range(PANEL_ROWS + 5)]
    for n, destination in enumerate(receivers, start=1):
        transfer(source, destination, f"{n}.00")
    return source, receivers


def test_account_page_lists_the_most_revocable_pairs_and_links_to_all(
    client, owner, busy_sender
):
    source, receivers = busy_sender
    client.force_login(owner)

    response = client.get(f"/admin/accounts/account/{source.pk}/change/")

    assert response.status_code == 200
    outgoing = response.context_data["outgoing"]
    assert len(outgoing) == PANEL_ROWS
    # Most still revocable first: the last receivers got the most.
    assert [r.destination.pk for r in outgoing[:2]] == [
        receivers[-1].pk,
        receivers[-2].pk,
    ]
    assert f"/admin/accounts/account/{source.pk}/pairs/out/" in (
        response.content.decode()
    )


def test_the_pairs_page_lists_every_pair_with_its_revocable_amount(
    client, owner, busy_sender
):
    source, receivers = busy_sender
    client.force_login(owner)

    response = client.get(f"/admin/accounts/account/{source.pk}/pairs/out/")

    assert response.status_code == 200
    rows = response.context_data["rows"]
    assert len(rows) == len(receivers)
    assert {r.destination.pk for r in rows} == {a.pk for a in receivers}
    assert str(rows[0].revocable_amount) == f"{len(receivers)}.00"
    html = response.content.decode()
    assert f"({len(receivers)} accounts)" in html


def test_the_pairs_page_of_an_account_out_of_reach_is_a_missing_id(
    client, make_account, owner, busy_sender
):
    client.force_login(owner)
    other = make_account()

    hidden = client.get(f"/admin/accounts/account/{other.pk}/pairs/out/")
    missing = client.get("/admin/accounts/account/999999999/pairs/out/")
    bad_direction = client.get(
        f"/admin/accounts/account/{busy_sender[0].pk}/pairs/sideways/"
    )

    assert hidden.status_code == missing.status_code == 302
    assert hidden["Location"] == missing["Location"] == "/admin/"
    # Not a page: Django's catch-all answers it like an unknown account id.
    assert bad_direction.status_code == 302
    assert "/pairs/sideways/change/" in bad_direction["Location"]
