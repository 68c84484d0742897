"""No raw internals on the ledger's screens: books, holders and signs as people
read them (codes stay in the API and the CSV export)."""

from accounts.models import Movement, Posting


def test_a_ledger_lines_page_reads_like_its_row(
    client, owner, make_account, grant, fund
):
    account = make_account(name="Acme Main")
    grant(owner, account)
    fund(account, "5000.00")
    line = Posting.objects.get(holder_type="account", holder_id=account.pk)
    assert line.amount == -5000  # credit book: the double entry stores it negative
    client.force_login(owner)
    page = client.get(f"/admin/accounts/posting/{line.pk}/change/").content.decode()
    assert f"Acme Main ({account.uid})" in page
    assert "Own funds" in page
    assert "5000.00" in page
    assert "-5000.00" not in page
    for raw in ("own_cash", "Holder id", "account#"):
        assert raw not in page
    listed = client.get("/admin/accounts/posting/").content.decode()
    assert "Own funds" in listed
    assert "own_cash</" not in listed


def test_the_book_filter_and_the_account_page_show_labels_in_chinese(
    client, owner, make_account, grant, fund
):
    account = make_account()
    grant(owner, account)
    fund(account, "10.00")
    client.force_login(owner)
    client.cookies["django_language"] = "zh-hans"
    listed = client.get("/admin/accounts/posting/").content.decode()
    assert "自有资金" in listed
    assert "划入资金" in listed  # a choice of the book filter
    assert "变动金额" in listed
    page = client.get(f"/admin/accounts/account/{account.pk}/change/")
    assert "自有资金" in page.content.decode()


def test_an_operator_sees_each_leg_by_its_holders_name(
    client, operator, make_account, fund
):
    account = make_account(name="Acme Dev")
    fund(account, "50.00")
    movement = Movement.objects.get(account=account)
    client.force_login(operator)
    page = client.get(
        f"/admin/accounts/movement/{movement.pk}/change/"
    ).content.decode()
    assert f"Acme Dev ({account.uid})" in page
    assert "The provider" in page
    assert "Provider: funds received" in page
    assert "Own funds" in page
