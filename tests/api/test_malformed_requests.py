"""Requests found by fuzzing: each is a 4xx with the API's JSON, never a 500 or
an HTML page, and writes nothing (SPEC §1, §2, §8)."""

import json

import pytest
from rest_framework.test import APIClient

from accounts.admin.structure import FolderForm
from accounts.forms import AccountAddForm, AccountChangeForm
from accounts.models import Account, Folder, Movement
from billing_portal.models import IdempotencyRecord
from tests.api.helpers import API


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- deeply nested JSON -------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_a_400(
    depth, make_account, operator, owner, grant, client_for, db_state
):
    account = make_account()
    grant(owner, account)
    before = db_state()

    top_up = client_for(operator).generic(
        "POST",
        f"{API}/accounts/{account.pk}/top-ups/",
        _nested(depth),
        content_type="application/json",
    )
    in_a_field = client_for(owner).generic(
        "POST",
        f"{API}/transfers/",
        f'{{"source": {account.pk}, "destination": {_nested(depth)}, "amount": "1"}}',
        content_type="application/json",
    )

    for response in (top_up, in_a_field):
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "detail": "JSON parse error - nested deeper than 32 levels."
        }
    assert db_state() == before


def test_nesting_up_to_the_limit_is_read_as_usual(
    make_account, owner, grant, client_for
):
    account = make_account()
    grant(owner, account)

    response = client_for(owner).generic(
        "POST",
        f"{API}/transfers/",
        f'{{"source": {account.pk}, "destination": {_nested(31)}, "amount": "1"}}',
        content_type="application/json",
    )

    # Read, then refused by the field (a list is no account id).
    assert response.status_code == 400
    assert set(response.json()) == {"destination"}


def test_deeply_nested_json_to_the_anonymous_token_endpoint_is_a_400(db):
    response = APIClient().generic(
        "POST", f"{API}/auth/token/", _nested(1000), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - nested deeper than 32 levels."
    }


def test_the_token_endpoint_still_takes_json_and_forms(owner):
    client = APIClient()
    credentials = {"username": "owner", "password": "pass-word-123"}

    as_json = client.post(f"{API}/auth/token/", credentials, format="json")
    as_form = client.post(f"{API}/auth/token/", credentials)

    assert as_json.status_code == as_form.status_code == 200
    assert as_json.json()["token"] == as_form.json()["token"]


# --- oversized bodies ---------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def test_a_10_mb_body_is_the_apis_json_413(
    make_account, operator, client_for, db_state
):
    account = make_account()
    before = db_state()
    body = json.dumps({"amount": "1.00", "memo": "x" * TEN_MB})

    response = client_for(operator).generic(
        "POST",
        f"{API}/accounts/{account.pk}/top-ups/",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="big-1",
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "The request body is larger than 2621440 bytes."
    }
    assert db_state() == before


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded"]
)
def test_a_10_mb_body_to_the_token_endpoint_is_a_json_413(db, content_type):
    body = (
        json.dumps({"username": "x" * TEN_MB, "password": "p"})
        if content_type == "application/json"
        else "username=" + "x" * TEN_MB + "&password=p"
    )

    response = APIClient().generic(
        "POST", f"{API}/auth/token/", body, content_type=content_type
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


def test_an_anonymous_10_mb_body_gets_the_401_first(db):
    response = APIClient().generic(
        "POST",
        f"{API}/transfers/",
        json.dumps({"amount": "1.00", "memo": "x" * TEN_MB}),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_too_many_form_fields_is_a_json_400(db):
    body = "&".join(f"f{i}=1" for i in range(1500))

    response = APIClient().generic(
        "POST",
        f"{API}/auth/token/",
        body,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


# --- the Idempotency-Key header ---------------------------------------------


@pytest.mark.parametrize("key", ["", " ", "   ", "\t"], ids=["empty", "1", "3", "tab"])
def test_a_blank_idempotency_key_is_a_400_on_the_header(
    key, make_account, operator, client_for, db_state
):
    account = make_account()
    client = client_for(operator)
    before = db_state()

    responses = [
        client.post(
            f"{API}/accounts/{account.pk}/top-ups/",
            {"amount": "5.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        for _ in range(2)
    ]

    for response in responses:
        assert response.status_code == 400, response.content
        assert response.json() == {
            "Idempotency-Key": ["Enter a key; it cannot be blank."]
        }
    assert db_state() == before
    assert Movement.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


# --- names: printable characters only -----------------------------------------

BAD_NAMES = {
    "bell": "Team\x07",
    "ansi_escape": "\x1b[31mRed\x1b[0m",
    "right_to_left_override": "invoice\u202egpj.exe",
    "newline_inside": "two\nlines",
    "tab_inside": "tab\there",
    "carriage_return_inside": "a\rb",
    "delete": "a\x7fb",
    "c1_control": "a\x85b",
    "line_separator": "a\u2028b",
    "zero_width_space_only": "\u200b",
    "zero_width_joiner_only": "\u200d\u200d",
    "byte_order_mark": "\ufeffName",
    "soft_hyphen": "na\u00adme",
    "hangul_filler_only": "\u3164",
}

GOOD_NAMES = {
    "accents": "Müller & Söhne GmbH",
    "chinese": "研发部",
    "persian_with_zero_width_non_joiner": (
        "\u0645\u062f\u06cc\u0631\u06cc\u062a\u200c\u0645\u0627\u0644\u06cc"
    ),
    "emoji_with_zero_width_joiner": "Team \U0001f469\u200d\U0001f4bb",
    "no_break_space": "Acme\u00a0Ltd",
}


@pytest.fixture
def name_targets(company, make_account, operator, client_for):
    account = make_account()
    root = Folder.objects.get(company=company, parent__isnull=True)
    # Two levels down, so that renaming it never meets the new folder's name.
    sub = Folder.objects.create(company=company, name="Eng", parent=root, depth=1)
    folder = Folder.objects.create(company=company, name="Web", parent=sub, depth=2)
    client = client_for(operator)
    return [
        (
            "post",
            f"{API}/accounts/",
            {"uid": "5000000000000001", "company": company.pk, "currency": "CNY"},
        ),
        ("patch", f"{API}/accounts/{account.pk}/", {}),
        ("post", f"{API}/folders/", {"company": company.pk}),
        ("patch", f"{API}/folders/{folder.pk}/", {}),
        ("post", f"{API}/companies/", {"registration_number": "REG-NAMES-1"}),
    ], client


def _folders():
    return list(Folder.objects.order_by("pk").values_list("pk", "name"))


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_a_name_with_control_or_invisible_characters_is_a_400(
    name, name_targets, db_state
):
    targets, client = name_targets
    before, folders = db_state(), _folders()

    for method, url, body in targets:
        response = getattr(client, method)(url, {**body, "name": name}, format="json")
        assert response.status_code == 400, (url, response.content)
        assert set(response.json()) == {"name"}, (url, response.content)

    assert db_state() == before
    assert _folders() == folders


@pytest.mark.parametrize("name", GOOD_NAMES.values(), ids=GOOD_NAMES.keys())
def test_names_in_any_script_are_kept(name, name_targets):
    targets, client = name_targets

    for method, url, body in targets:
        response = getattr(client, method)(url, {**body, "name": name}, format="json")
        assert response.status_code in (200, 201), (url, response.content)
        assert response.json()["name"] == name


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_admin_forms_refuse_the_same_names(name, company, make_account):
    account = make_account()
    add = AccountAddForm(
        data={
            "uid": "5000000000000002",
            "name": name,
            "company": company.pk,
            "currency": "CNY",
            "mobile": "",
        }
    )
    change = AccountChangeForm(
        data={"name": name, "mobile": "", "status": "valid"}, instance=account
    )
    folder = FolderForm(data={"name": name})

    for form in (add, change, folder):
        assert not form.is_valid()
        assert "name" in form.errors, form.errors
    assert not Account.objects.filter(uid="5000000000000002").exists()


def test_the_name_refusal_says_why(name_targets):
    targets, client = name_targets
    _method, url, body = targets[0]

    bell = client.post(url, {**body, "name": "Team\x07"}, format="json")
    invisible = client.post(url, {**body, "name": "\u200b"}, format="json")

    assert bell.json() == {
        "name": [
            "Use printable characters only: no line breaks, tabs, control or "
            "invisible formatting characters (U+0007)."
        ]
    }
    assert invisible.json() == {
        "name": [
            "Use printable characters only: no line breaks, tabs, control or "
            "invisible formatting characters (U+200B)."
        ]
    }
    joiner = client.post(url, {**body, "name": "\u200d"}, format="json")
    assert joiner.json() == {
        "name": ["Enter a name with at least one visible character."]
    }


# --- account creation: company ------------------------------------------------


def test_creating_an_account_without_the_company_field_is_a_400(
    operator, client_for, db_state
):
    before = db_state()

    response = client_for(operator).post(
        f"{API}/accounts/",
        {"uid": "5000000000000003", "name": "N", "currency": "CNY"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"company": ["This field is required."]}
    assert db_state() == before


# --- pagination parameters ----------------------------------------------------


@pytest.mark.parametrize("param", ["page", "page_size"])
@pytest.mark.parametrize(
    "value", ["abc", "0", "-1", "1.5", "\uff11", "", " 2", "1e3", "0000"]
)
def test_pagination_parameters_must_be_positive_integers(
    param, value, make_account, operator, client_for
):
    make_account()

    response = client_for(operator).get(f"{API}/accounts/", {param: value})

    assert response.status_code == 400, response.content
    assert response.json() == {param: ["Enter a whole number of at least 1."]}


def test_huge_page_numbers_are_past_the_last_page(make_account, operator, client_for):
    make_account()
    client = client_for(operator)

    past = client.get(f"{API}/accounts/", {"page": "9" * 5000})
    padded = client.get(f"{API}/accounts/", {"page": "0001"})
    huge_size = client.get(f"{API}/accounts/", {"page_size": "9" * 5000})

    assert past.status_code == 404
    assert padded.status_code == 200
    assert padded.json()["count"] == 1
    assert huge_size.status_code == 200
    assert len(huge_size.json()["results"]) == 1


# --- query parameters that name an object or a status ---------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [("notifications", "account"), ("folders", "company")],
)
@pytest.mark.parametrize(
    "value", ["abc", "\uff11", "\u0661", "1.0", "-1", "9" * 5000, ""]
)
def test_id_filters_take_ascii_digits_only(path, param, value, operator, client_for):
    response = client_for(operator).get(f"{API}/{path}/", {param: value})

    assert response.status_code == 400, response.content
    assert set(response.json()) == {param}


def test_an_unknown_contract_status_filter_is_a_400(operator, client_for):
    client = client_for(operator)

    response = client.get(f"{API}/contracts/", {"status": "lost"})

    assert response.status_code == 400
    assert set(response.json()) == {"status"}
    assert client.get(f"{API}/contracts/", {"status": "pending"}).status_code == 200
