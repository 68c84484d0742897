"""The asset page offers Share and Stop only when they can succeed: greyed with
the sentence the sharing services refuse with otherwise (issue 12)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.services import create_folder, place_accounts
from billing_portal.errors import SharingRefused
from sharing import services
from sharing.models import Asset, Share
from tests.accounts.conftest_admin import (
    disabled_button,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
)
from tests.factories import AccountFactory
from tests.sharing.conftest_admin import (
    at,
    sharing_world_fixture,  # noqa: F401 (the ``sharing_world`` fixture)
)

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def asset_page(client, user, asset, **headers):
    client.force_login(user)
    return client.get(url("sharing_asset_change", asset.pk), **headers)


def shares_panel(response):
    return parse(response).find("section", id="shares")


def test_an_expired_asset_is_not_offered_for_sharing(client, sharing_world):
    w = sharing_world
    p = w.portal
    Asset.objects.filter(pk=w.scu.pk).update(status=Asset.Status.EXPIRED)
    w.scu.refresh_from_db()

    page = asset_page(client, p.owner, w.scu)

    assert url("sharing_asset_share", w.scu.pk) not in page.content.decode()
    with pytest.raises(SharingRefused) as refused:
        services.share_with_accounts(asset=w.scu, accounts=[w.spare], actor=p.owner)
    sentence = refused.value.reasons[0].message
    assert refused.value.reasons[0].code == "asset_not_active"
    assert sentence.startswith(f"Asset {w.scu.pk} expired at ")
    assert sentence.endswith("an expired asset is not shared with anyone new.")
    greyed = disabled_button(shares_panel(page), "Share")
    assert greyed["lead"] == "This asset cannot be shared now:"
    assert greyed["reasons"] == [sentence]
    tools = parse(page).with_class("object-tools")[0]
    assert disabled_button(tools, "Share")["title"] == (
        f"This asset cannot be shared now: {sentence}"
    )
    # Sharing with a folder is refused by the same rule, and the form says so.
    folder = create_folder(company=p.company, name="Team", actor=p.operator)
    with pytest.raises(SharingRefused) as by_folder:
        services.share_with_folder(asset=w.scu, folder=folder, actor=p.owner)
    assert [r.message for r in by_folder.value.reasons] == [sentence]
    form = client.get(url("sharing_asset_share", w.scu.pk))
    assert parse(form).find("input", name="target") is None
    assert sentence in parse(form).text


def test_an_asset_with_100_recipients_is_not_offered_for_sharing(client, sharing_world):
    w = sharing_world
    p = w.portal
    recipients = [
        AccountFactory(company=p.company, name=f"Team {n}") for n in range(100)
    ]
    services.share_with_accounts(asset=w.scu, accounts=recipients, actor=p.owner)

    page = asset_page(client, p.owner, w.scu)

    assert url("sharing_asset_share", w.scu.pk) not in page.content.decode()
    with pytest.raises(SharingRefused) as refused:
        services.share_with_accounts(asset=w.scu, accounts=[w.spare], actor=p.owner)
    sentence = refused.value.reasons[0].message
    assert sentence == (
        "An asset can be shared with at most 100 accounts at a time; this would "
        "make 101."
    )
    assert disabled_button(shares_panel(page), "Share")["reasons"] == [sentence]
    assert parse(page).find(id="recipient-counter").text == "100 / 100"
    # Stopping one frees its place: Share is offered again.
    services.stop_share(asset=w.scu, account=recipients[0], actor=p.owner)
    again = asset_page(client, p.owner, w.scu)
    assert url("sharing_asset_share", w.scu.pk) in again.content.decode()


def test_the_share_button_in_chinese_says_why(client, sharing_world):
    w = sharing_world
    Asset.objects.filter(pk=w.scu.pk).update(status=Asset.Status.EXHAUSTED)

    with translation.override("en"):  # not left active for later tests
        page = asset_page(client, w.portal.owner, w.scu, HTTP_ACCEPT_LANGUAGE="zh-hans")

    greyed = disabled_button(shares_panel(page), "共享")
    assert greyed["lead"] == "该资产当前不能共享："
    assert greyed["reasons"] == [f"资产 {w.scu.pk} 已用完，没有可共享的剩余额度。"]


def test_stop_is_greyed_for_an_account_that_receives_the_asset_through_a_folder(
    client, sharing_world
):
    w = sharing_world
    p = w.portal
    team = create_folder(company=p.company, name="Team", actor=p.operator)
    place_accounts(folder=team, accounts=[p.a_dev], actor=p.operator)
    folder_share = services.share_with_folder(asset=w.plan, folder=team, actor=p.owner)
    with at(folder_share.due_at + timedelta(seconds=1)):
        assert services.resolve_share(folder_share.pk) == "active"

    page = asset_page(client, p.owner, w.plan)

    with pytest.raises(SharingRefused) as refused:
        services.stop_share(asset=w.plan, account=p.a_dev, actor=p.owner)
    sentence = refused.value.reasons[0].message
    assert sentence == (
        "Account 1000000000000102 receives the asset through the share with "
        "folder Team; stop that share or move the account out of the folder."
    )
    row = parse(page).find("tr", id=f"share-{w.dev_share.pk}")
    assert disabled_button(row, "Stop")["reasons"] == [sentence]
    html = page.content.decode()
    assert url("sharing_share_stop", w.dev_share.pk) not in html
    # The folder share and a_hidden's own share can be stopped.
    assert url("sharing_share_stop", folder_share.pk) in html
    assert url("sharing_share_stop", w.hidden_share.pk) in html
    # The stop page typed by hand says the same, with no "Yes".
    typed = client.get(url("sharing_share_stop", w.dev_share.pk))
    assert sentence in parse(typed).text
    assert "Yes, stop sharing" not in typed.content.decode()


def test_a_stopped_share_offers_no_stop(client, sharing_world):
    w = sharing_world
    p = w.portal
    services.stop_share(asset=w.plan, account=p.a_hidden, actor=p.owner)

    page = asset_page(client, p.owner, w.plan)

    row = parse(page).find("tr", id=f"share-{w.hidden_share.pk}")
    assert "Stopped at" in row.text
    assert row.with_class("portal-row-action")[0].text == ""
    stopped = Share.objects.get(pk=w.hidden_share.pk)
    typed = client.get(url("sharing_share_stop", stopped.pk))
    assert "This share was already stopped at" in parse(typed).text
