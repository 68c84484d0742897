"""Refusal sentences follow the client's language (SPEC §8: translated)."""


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
