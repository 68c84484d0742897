def test_transfer_via_api_with_idempotency(
    make_account, fund, owner, grant, client_for
):
    s, d = make_account(), make_account()
    grant(owner, s)
    fund(s, "100.00")
    client = client_for(owner)
    body = {"source": s.pk, "destination": d.pk, "amount": "25.5"}
    r1 = client.post(
        "/api/v1/transfers/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert r1.status_code == 201, r1.content
    assert r1.json()["revocable_amount"] == "25.50"
    r2 = client.post(
        "/api/v1/transfers/",
        {**body, "amount": "25.50"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert r2.status_code == 201
    assert r2.json() == r1.json()
    r3 = client.post(
        "/api/v1/transfers/",
        {**body, "amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert r3.status_code == 409
    assert r3.json()["code"] == "idempotency_key_reused"
    acct = client.get(f"/api/v1/accounts/{s.pk}/").json()
    assert acct["cash_balance"] == "74.50"
    tr = client.get(f"/api/v1/accounts/{d.pk}/")
    assert tr.status_code == 404
    r = client.get(f"/api/v1/accounts/{s.pk}/transferable/").json()
    assert r["transferable_amount"] == "74.50", r
    r = client.get(f"/api/v1/accounts/{s.pk}/revocable/?destination={d.pk}").json()
    assert r["revocable_amount"] == "25.50", r
    r = client.get(f"/api/v1/accounts/{s.pk}/ledger/").json()
    assert r["count"] == 2, r
    r = client.post("/api/v1/transfers/", {**body, "amount": "1.005"}, format="json")
    assert r.status_code == 400, r.content
    assert "amount" in r.json()
    r = client.post("/api/v1/transfers/", {**body, "extra": 1}, format="json")
    assert r.status_code == 400, r.content
    assert "extra" in r.json()
    r = client.post("/api/v1/revocations/", {**body, "amount": "30"}, format="json")
    assert r.status_code == 409, r.content
    assert r.json()["code"] == "exceeds_transferred_in_balance"
    assert client.get("/api/schema/").status_code == 200
