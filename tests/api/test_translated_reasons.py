"""Refusal sentences follow the client's language (SPEC §8: translated)."""

import re

import pytest
from django.utils import translation

from accounts import services
from accounts.models import Account
from billing_portal.errors import MESSAGES
from tests.api.helpers import API
from tests.factories import UserFactory


def test_refusal_sentences_are_translated(make_account, fund, owner, grant, client_for):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "10.00")
    body = {"source": source.pk, "destination": destination.pk, "amount": "25.00"}
    client = client_for(owner)
    english = client.post("/api/v1/transfers/", body, format="json")
    chinese = client.post(
        "/api/v1/transfers/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert english.status_code == chinese.status_code == 409
    assert english.json()["reasons"][0]["code"] == "exceeds_transferable"
    assert chinese.json()["reasons"][0]["code"] == "exceeds_transferable"
    assert english.json()["reasons"][0]["message"] == (
        f"25.00 is more than the 10.00 that account {source.uid} can transfer."
    )
    assert chinese.json()["reasons"][0]["message"] == (
        f"25.00 超过了账号 {source.uid} 可划拨的 10.00。"
    )
    assert chinese.json()["detail"] == "无法进行此次划拨。"


# --- every refusal has its own whole sentence, in both languages -----------------

#: Words that stay as written in a Chinese sentence (names of the API's own).
_KEPT_WORDS = {"Idempotency", "Key"}


def test_every_reason_sentence_has_a_whole_chinese_translation():
    """No sentence is left in English and none is built from English fragments:
    after the placeholders (data) are taken out, no English word remains."""
    for key, sentence in MESSAGES.items():
        with translation.override("zh-hans"):
            chinese = str(sentence)
        with translation.override("en"):
            english = str(sentence)
        assert chinese != english, f"{key} has no translation"
        words = set(re.findall(r"[A-Za-z]{2,}", re.sub(r"\{\w+\}", "", chinese)))
        assert words <= _KEPT_WORDS, (key, chinese)
        placeholders = set(re.findall(r"\{\w+\}", english))
        assert set(re.findall(r"\{\w+\}", chinese)) == placeholders, key


def _both(client, method, url, body=None):
    """The same request in English and in Simplified Chinese."""
    send = getattr(client, method)
    english = send(url, body, format="json")
    chinese = send(url, body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert english.status_code == chinese.status_code
    return english, chinese


def _message(response) -> str:
    (only,) = response.json()["reasons"]
    return only["message"]


@pytest.fixture
def disabled_request(company, make_account, operator, owner, grant, cbm):
    """An access request of a pay-on-behalf account, sent to the company's CBM."""
    account = make_account()
    grant(owner, account)
    services.set_business_manager(company=company, user=cbm, actor=operator)
    services.update_account(
        account=account,
        actor=operator,
        partner_name="Partner",
        partner_mode=Account.PartnerMode.PAY_ON_BEHALF,
    )
    return services.request_access(account=account, actor=owner)


def test_a_cbm_only_refusal_says_who_may_answer(disabled_request, owner, client_for):
    english, chinese = _both(
        client_for(owner), "post", f"{API}/access-requests/{disabled_request.pk}/grant/"
    )

    assert english.status_code == 403
    assert english.json()["code"] == "no_permission"
    assert _message(english) == (
        "Only the business manager that this access request was sent to can grant "
        "or decline it."
    )
    assert _message(chinese) == "只有收到此权限申请的客户经理可以批准或拒绝该申请。"
    assert chinese.json()["detail"] == "您没有执行此操作的权限。"
    disabled_request.refresh_from_db()
    assert disabled_request.status == "requested"


def test_revoking_an_exception_names_who_may(disabled_request, cbm, owner, client_for):
    exception = services.grant_access_request(request=disabled_request, actor=cbm)

    english, chinese = _both(
        client_for(owner), "post", f"{API}/access-exceptions/{exception.pk}/revoke/"
    )

    assert english.status_code == 403
    assert _message(english) == (
        "Only the business manager who granted this exception, or a billing "
        "operator, can revoke it."
    )
    assert _message(chinese) == (
        "只有批准此例外的客户经理或服务商的计费运营人员可以撤销该例外。"
    )
    exception.refresh_from_db()
    assert exception.end is None


def test_invalid_state_sentences_are_whole(disabled_request, cbm, owner, client_for):
    account = disabled_request.account
    again_en, again_zh = _both(
        client_for(owner), "post", f"{API}/accounts/{account.pk}/access-requests/"
    )
    services.decline_access_request(request=disabled_request, actor=cbm)
    answered_en, answered_zh = _both(
        client_for(cbm), "post", f"{API}/access-requests/{disabled_request.pk}/grant/"
    )

    assert again_en.status_code == answered_en.status_code == 409
    assert _message(again_en) == (
        f"Account {account.uid} already has an open access request; wait for the "
        "business manager's answer."
    )
    assert _message(again_zh) == (
        f"账号 {account.uid} 已有一个待处理的权限申请；请等待客户经理答复。"
    )
    assert _message(answered_en) == (
        f"Access request {disabled_request.pk} has already been answered."
    )
    assert _message(answered_zh) == f"权限申请 {disabled_request.pk} 已被答复。"


def test_a_relationship_in_the_wrong_state(
    company, make_account, operator, owner, grant, client_for
):
    hq, member = make_account(), make_account()
    grant(owner, hq)
    member_owner = UserFactory(username="member-owner")
    grant(member_owner, member)
    services.set_management_account(company=company, account=hq, actor=operator)
    relationship = services.invite_member(
        management_account=hq,
        member_account=member,
        type="financial_management",
        permissions=[],
        actor=owner,
    )
    services.confirm_relationship(relationship=relationship, actor=member_owner)
    url = f"{API}/relationships/{relationship.pk}"

    confirm_en, confirm_zh = _both(client_for(member_owner), "post", f"{url}/confirm/")
    not_owner_en, not_owner_zh = _both(client_for(owner), "post", f"{url}/reject/")

    assert confirm_en.status_code == 409
    assert _message(confirm_en) == (
        f"Relationship {relationship.pk} is no longer pending; only a pending "
        "invitation can be confirmed."
    )
    assert _message(confirm_zh) == (
        f"财务关系 {relationship.pk} 已不是待确认状态；只有待确认的邀请可以确认。"
    )
    assert not_owner_en.status_code == 403
    assert _message(not_owner_en) == (
        f"Only an owner of account {member.uid} can accept or reject its invitation."
    )
    assert (
        _message(not_owner_zh)
        == f"只有账号 {member.uid} 的所有者可以接受或拒绝其邀请。"
    )


def test_a_frozen_account_is_said_to_be_frozen(
    make_account, fund, owner, grant, operator, client_for
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "10.00")
    services.update_account(account=source, actor=operator, status="frozen")
    body = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}

    english, chinese = _both(client_for(owner), "post", f"{API}/transfers/", body)

    assert english.status_code == 409
    assert english.json()["reasons"][0]["message"] == (
        f"Account {source.uid} is frozen; only valid accounts can move funds."
    )
    assert chinese.json()["reasons"][0]["message"] == (
        f"账号 {source.uid} 已冻结；只有正常状态的账号可以划转资金。"
    )


def test_the_directory_refusal_names_who_may_change_it(
    company, make_account, owner, grant, client_for
):
    grant(owner, make_account())
    body = {"company": company.pk, "name": "Sales"}

    english, chinese = _both(client_for(owner), "post", f"{API}/folders/", body)

    assert english.status_code == 403
    assert _message(english) == (
        "Only billing operators and the owner or manage administrators of the "
        f"management account of company {company.name} can change its resource "
        "directory."
    )
    assert _message(chinese) == (
        f"只有计费运营人员以及企业 {company.name} 的企业管理账号的所有者或管理权限"
        "管理员可以修改其资源目录。"
    )
