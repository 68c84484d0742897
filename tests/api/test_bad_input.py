"""Bad input is a 400 that names the field and writes nothing (SPEC §1, §2, §8)."""

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.forms import TopUpForm
from accounts.models import Movement
from sharing.models import UsageRecord
from tests.api.helpers import API, usage_body

MISSING = object()

#: Every refused amount of SPEC §2, as the raw JSON text sent for ``amount``.
BAD_AMOUNTS = {
    "three_places_by_value": '"1.505"',
    "three_places_below_a_cent": '"0.001"',
    "three_places_json_number": "1.505",
    "zero": '"0"',
    "zero_with_cents": '"0.00"',
    "zero_json_number": "0",
    "minus_zero": '"-0.00"',
    "negative": '"-1.00"',
    "negative_json_number": "-5",
    "non_numeric": '"abc"',
    "decimal_comma": '"1,50"',
    "two_points": '"1.2.3"',
    "string_nan": '"NaN"',
    "string_infinity": '"Infinity"',
    "string_minus_infinity": '"-Infinity"',
    "json_nan": "NaN",
    "json_infinity": "Infinity",
    "json_minus_infinity": "-Infinity",
    "exponent_string": '"1e3"',
    "exponent_string_upper": '"1E3"',
    "exponent_string_fraction": '"1.5e2"',
    "exponent_json_number": "1e3",
    "exponent_json_number_fraction": "1.5e2",
    "empty_string": '""',
    "blank_string": '"   "',
    "null": "null",
    "missing": MISSING,
    "ten_to_the_13": '"10000000000000"',
    "ten_to_the_13_with_cents": '"10000000000000.00"',
    "ten_to_the_13_json_number": "10000000000000",
    "above_ten_to_the_13": '"123456789012345.67"',
    "boolean_true": "true",
    "boolean_false": "false",
    "list": '["1.00"]',
    "object": '{"value": "1.00"}',
    # Digits are ASCII 0-9 only (Python's Decimal() reads these as 12.50, 3.00).
    "fullwidth_digits": '"\uff11\uff12.\uff15\uff10"',
    "arabic_indic_digits": '"\u0663.\u0660\u0660"',
    "devanagari_digits": '"\u0967\u0966"',
    "thousands_separator": '"1,000.00"',
    # 27 or more integer digits exceed Decimal's precision when rounded.
    "twenty_seven_digits": '"' + "1" * 27 + '"',
    "twenty_seven_digits_with_cents": '"' + "9" * 27 + '.00"',
    "twenty_seven_digits_json_number": "1" * 27,
    "forty_digits_json_number_with_cents": "9" * 40 + ".25",
}

#: Accepted amounts: raw JSON text → the amount the movement holds.
GOOD_AMOUNTS = {
    "trailing_zero_third_place": ('"1.500"', "1.50"),
    "json_number_read_exactly": ("12.5", "12.50"),
    "json_number_cents": ("0.1", "0.10"),
    "integer_string": ('"7"', "7.00"),
    "json_integer": ("3", "3.00"),
    "one_cent": ('"0.01"', "0.01"),
}

_external_ids = itertools.count(1)


@dataclass
class MoneyPost:
    """One money-moving POST endpoint with a valid body around ``amount``."""

    name: str
    client: object
    url: str
    fields: callable  # () -> dict, every field but amount
    model: type

    def raw(self, amount_json, **extra) -> str:
        body = {**self.fields(), **extra}
        if amount_json is MISSING:
            return json.dumps(body)
        body["amount"] = "__AMOUNT__"
        return json.dumps(body).replace('"__AMOUNT__"', amount_json)

    def post(self, amount_json, **extra):
        return self.client.post(
            self.url, self.raw(amount_json, **extra), content_type="application/json"
        )


@pytest.fixture(params=["transfers", "revocations", "top-ups", "usage"])
def money_post(
    request, make_account, fund, transfer, owner, operator, grant, client_for
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "100.00")
    transfer(source, destination, "40.00")
    pair = {"source": source.pk, "destination": destination.pk}
    name = request.param
    if name == "transfers":
        return MoneyPost(
            name, client_for(owner), f"{API}/transfers/", lambda: pair, Movement
        )
    if name == "revocations":
        return MoneyPost(
            name, client_for(owner), f"{API}/revocations/", lambda: pair, Movement
        )
    if name == "top-ups":
        return MoneyPost(
            name,
            client_for(operator),
            f"{API}/accounts/{source.pk}/top-ups/",
            dict,
            Movement,
        )

    def usage_fields():
        body = usage_body(source, external_id=f"bill-{next(_external_ids)}")
        del body["amount"]
        return body

    return MoneyPost(
        name, client_for(operator), f"{API}/usage/", usage_fields, UsageRecord
    )


@pytest.mark.parametrize("amount_json", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
def test_bad_amount_is_a_400_naming_the_field_and_writes_nothing(
    money_post, amount_json, db_state
):
    before = db_state()

    response = money_post.post(amount_json)

    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"amount"}, body
    assert len(body["amount"]) == 1
    assert isinstance(body["amount"][0], str)
    assert body["amount"][0]
    assert db_state() == before


@pytest.mark.parametrize(
    ("amount_json", "stored"), GOOD_AMOUNTS.values(), ids=GOOD_AMOUNTS.keys()
)
def test_good_amount_is_read_exactly(money_post, amount_json, stored):
    response = money_post.post(amount_json)

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == stored
    row = money_post.model.objects.get(pk=response.json()["id"])
    assert row.amount == Decimal(stored)


@pytest.mark.parametrize(
    ("amount_json", "message"),
    [
        ('"\uff11\uff12.\uff15\uff10"', "Write the amount with the digits 0-9 only."),
        ('"\u0663.\u0660\u0660"', "Write the amount with the digits 0-9 only."),
        (
            '"1,000.00"',
            "Write amounts without thousands separators: 1000.00, not 1,000.00.",
        ),
        (
            '"25\uff0c000.50"',
            "Write amounts without thousands separators: 25000.50, not 25\uff0c000.50.",
        ),
        ('"12,50"', "Write the cents after a dot, not a comma: 12.50, not 12,50."),
        (
            '"1,2,3"',
            "Write the amount without thousands separators and with a dot before "
            'the cents, e.g. "1000.00" (not "1,000.00").',
        ),
        ('"' + "1" * 27 + '"', "The amount must be less than 10000000000000."),
    ],
    ids=[
        "fullwidth",
        "arabic_indic",
        "thousands_separator",
        "fullwidth_comma",
        "decimal_comma",
        "stray_commas",
        "27_digits",
    ],
)
def test_amount_refusals_say_what_to_type(money_post, amount_json, message, db_state):
    before = db_state()

    response = money_post.post(amount_json)

    assert response.status_code == 400, response.content
    assert response.json() == {"amount": [message]}
    assert db_state() == before


def test_a_thousands_separator_is_explained_in_chinese_too(money_post, db_state):
    before = db_state()

    # (override: the language the request activates is not left to later tests)
    with translation.override("en"):
        response = money_post.client.post(
            money_post.url,
            money_post.raw('"1,000.00"'),
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )

    assert response.status_code == 400, response.content
    assert response.json() == {
        "amount": ["金额请不要使用千位分隔符：应写 1000.00，而不是 1,000.00。"]
    }
    assert db_state() == before


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("\uff11\uff12.\uff15\uff10", "Write the amount with the digits 0-9 only."),
        ("\u0663.\u0660\u0660", "Write the amount with the digits 0-9 only."),
        (
            "1,000.00",
            "Write amounts without thousands separators: 1000.00, not 1,000.00.",
        ),
        ("12,50", "Write the cents after a dot, not a comma: 12.50, not 12,50."),
        ("1" * 30, "The amount must be less than 10000000000000."),
    ],
)
def test_admin_amount_forms_refuse_what_the_api_refuses(typed, message):
    form = TopUpForm(data={"amount": typed})

    assert not form.is_valid()
    assert form.errors == {"amount": [message]}
    typed_plainly = TopUpForm(data={"amount": " 1000.00 "})
    assert typed_plainly.is_valid()
    assert typed_plainly.cleaned_data["amount"] == Decimal("1000.00")


def test_the_largest_amount_below_ten_to_the_13_is_accepted(
    operator, client_for, make_account
):
    account = make_account()

    response = client_for(operator).post(
        f"{API}/accounts/{account.pk}/top-ups/",
        {"amount": "9999999999999.99"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "9999999999999.99"
    account.refresh_from_db()
    assert account.cash_balance == Decimal("9999999999999.99")


def test_unknown_body_fields_are_named_and_nothing_is_written(money_post, db_state):
    before = db_state()

    response = money_post.post('"1.00"', note="x", amount_cents=100)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "amount_cents": ["Unknown field."],
        "note": ["Unknown field."],
    }
    assert db_state() == before


@pytest.mark.parametrize(
    "text",
    [
        '{"amount": "1.00"',
        "amount=1.00",
        "{'amount': '1.00'}",
        '{"amount": "1.00",}',
        '{"amount": 01}',
    ],
    ids=["truncated", "form_encoded", "single_quotes", "trailing_comma", "octal"],
)
def test_malformed_json_is_a_400_and_writes_nothing(money_post, text, db_state):
    before = db_state()

    response = money_post.client.post(
        money_post.url, text, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("JSON parse error")
    assert db_state() == before


@pytest.mark.parametrize("text", ["[]", '"1.00"', "null", "12"])
def test_a_body_that_is_not_an_object_is_a_400(money_post, text, db_state):
    before = db_state()

    response = money_post.client.post(
        money_post.url, text, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert "non_field_errors" in response.json()
    assert db_state() == before


# --- ids in the body ---------------------------------------------------------

BAD_IDS = {
    "nonexistent": "999999",
    "string": '"abc"',
    "numeric_string_nonexistent": '"999999"',
    "null": "null",
    "fraction": "1.5",
    "json_nan": "NaN",
    "boolean": "true",
    "list": "[1]",
}


@pytest.fixture
def movement_setup(make_account, fund, transfer, owner, grant, client_for):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "100.00")
    transfer(source, destination, "40.00")
    return client_for(owner), source, destination


@pytest.mark.parametrize("path", ["transfers", "revocations"])
@pytest.mark.parametrize("field", ["source", "destination"])
@pytest.mark.parametrize("id_json", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_bad_account_id_is_a_400_on_that_field(
    movement_setup, path, field, id_json, db_state
):
    client, source, destination = movement_setup
    body = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}
    body[field] = "__ID__"
    before = db_state()

    response = client.post(
        f"{API}/{path}/",
        json.dumps(body).replace('"__ID__"', id_json),
        content_type="application/json",
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert db_state() == before


@pytest.mark.parametrize("path", ["transfers", "revocations"])
@pytest.mark.parametrize("field", ["source", "destination"])
def test_missing_account_is_a_400_on_that_field(movement_setup, path, field):
    client, source, destination = movement_setup
    body = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}
    del body[field]

    response = client.post(f"{API}/{path}/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {field: ["This field is required."]}


def test_nonexistent_account_reads_like_a_missing_object(movement_setup):
    client, source, _destination = movement_setup

    response = client.post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": 999999, "amount": "1.00"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "destination": ['Invalid pk "999999" - object does not exist.']
    }


def test_every_bad_field_is_reported_at_once(movement_setup, db_state):
    client, _source, _destination = movement_setup
    before = db_state()

    response = client.post(
        f"{API}/transfers/",
        {"source": 999999, "destination": "abc", "amount": "1.505"},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"source", "destination", "amount"}
    assert db_state() == before


def test_top_up_of_a_nonexistent_account_is_a_404(operator, client_for, db_state):
    before = db_state()

    response = client_for(operator).post(
        f"{API}/accounts/999999/top-ups/", {"amount": "1.00"}, format="json"
    )

    assert response.status_code == 404
    assert db_state() == before


# --- usage ------------------------------------------------------------------


@pytest.fixture
def usage_client(operator, client_for):
    return client_for(operator)


USAGE_BAD = {
    "end_before_start": ({"usage_end": "2025-03-01T09:59:59.999999Z"}, "usage_end"),
    "bill_type_unknown": ({"bill_type": "monthly"}, "bill_type"),
    "bill_type_empty": ({"bill_type": ""}, "bill_type"),
    "bill_type_missing": ({"bill_type": MISSING}, "bill_type"),
    "usage_start_words": ({"usage_start": "yesterday"}, "usage_start"),
    "usage_start_no_such_day": ({"usage_start": "2025-02-30T10:00:00Z"}, "usage_start"),
    "usage_start_missing": ({"usage_start": MISSING}, "usage_start"),
    "usage_start_null": ({"usage_start": None}, "usage_start"),
    "usage_end_number": ({"usage_end": 1740826800}, "usage_end"),
    "usage_end_bad_hour": ({"usage_end": "2025-03-01T25:00:00Z"}, "usage_end"),
    "billed_at_empty": ({"billed_at": ""}, "billed_at"),
    "billed_at_missing": ({"billed_at": MISSING}, "billed_at"),
    "billed_at_date_garbage": ({"billed_at": "03/02/2025"}, "billed_at"),
    "account_nonexistent": ({"account": 999999}, "account"),
    "account_string": ({"account": "abc"}, "account"),
    "account_missing": ({"account": MISSING}, "account"),
    "product_missing": ({"product": MISSING}, "product"),
    "product_empty": ({"product": ""}, "product"),
    "external_id_missing": ({"external_id": MISSING}, "external_id"),
    "external_id_empty": ({"external_id": ""}, "external_id"),
    "external_id_too_long": ({"external_id": "x" * 129}, "external_id"),
    "quantity_negative": ({"quantity": "-1"}, "quantity"),
    "quantity_text": ({"quantity": "abc"}, "quantity"),
    "quantity_string_nan": ({"quantity": "NaN"}, "quantity"),
}


@pytest.mark.parametrize(
    ("overrides", "field"), USAGE_BAD.values(), ids=USAGE_BAD.keys()
)
def test_bad_usage_field_is_a_400_naming_it(
    usage_client, make_account, overrides, field, db_state
):
    account = make_account()
    body = usage_body(account)
    for name, value in overrides.items():
        if value is MISSING:
            del body[name]
        else:
            body[name] = value
    before = db_state()

    response = usage_client.post(f"{API}/usage/", body, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}, response.json()
    assert db_state() == before


@pytest.mark.parametrize("field", ["product", "external_id", "quantity", "usage_start"])
def test_json_nan_in_any_usage_field_is_a_400_naming_it(
    usage_client, make_account, field, db_state
):
    account = make_account()
    body = usage_body(account)
    body[field] = "__NAN__"
    before = db_state()

    response = usage_client.post(
        f"{API}/usage/",
        json.dumps(body).replace('"__NAN__"', "NaN"),
        content_type="application/json",
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert db_state() == before


def test_usage_ending_when_it_starts_is_accepted(usage_client, make_account):
    account = make_account()
    body = usage_body(account, usage_end="2025-03-01T10:00:00Z")

    response = usage_client.post(f"{API}/usage/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["usage_end"] == response.json()["usage_start"]


# --- every body the API reads refuses unknown fields ----------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/companies/", {"name": "N", "registration_number": "R-1"}),
        ("post", "/companies/{company}/verify/", {}),
        (
            "post",
            "/users/",
            {"username": "u", "password": "long-enough", "role": "cbm"},
        ),
        (
            "post",
            "/accounts/",
            {"uid": "2000000000000001", "name": "N", "currency": "CNY"},
        ),
        ("patch", "/accounts/{account}/", {"name": "N"}),
        (
            "post",
            "/accounts/{account}/access/",
            {"user": "{owner}", "permission": "use"},
        ),
        ("post", "/accounts/{account}/settle/", {}),
        ("post", "/auth/token/", {"username": "owner", "password": "pass-word-123"}),
    ],
    ids=[
        "company_create",
        "company_verify",
        "user_create",
        "account_create",
        "account_update",
        "access_grant",
        "settle",
        "token",
    ],
)
def test_other_endpoints_refuse_unknown_fields(
    operator, owner, company, make_account, client_for, db_state, method, url, body
):
    account = make_account()
    ids = {"company": company.pk, "account": account.pk, "owner": owner.pk}
    body = {k: ids["owner"] if v == "{owner}" else v for k, v in body.items()}
    before = db_state()

    response = getattr(client_for(operator), method)(
        API + url.format(**ids), {**body, "surprise": 1}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"surprise": ["Unknown field."]}
    assert db_state() == before


def test_revocable_query_refuses_unknown_and_bad_parameters(
    movement_setup, make_account
):
    client, source, destination = movement_setup
    url = f"{API}/accounts/{source.pk}/revocable/"

    unknown = client.get(url, {"destination": destination.pk, "amount": "1"})
    missing = client.get(url)
    bad = client.get(url, {"destination": "abc"})
    nonexistent = client.get(url, {"destination": 999999})

    assert unknown.status_code == 400
    assert unknown.json() == {"amount": ["Unknown field."]}
    assert missing.status_code == 400
    assert missing.json() == {"destination": ["This field is required."]}
    assert bad.status_code == 400
    assert set(bad.json()) == {"destination"}
    assert nonexistent.status_code == 400
    assert nonexistent.json() == {
        "destination": ['Invalid pk "999999" - object does not exist.']
    }


def test_a_refused_body_does_not_use_up_the_idempotency_key(money_post, db_state):
    before = db_state()
    refused = money_post.client.post(
        money_post.url,
        money_post.raw('"1.505"'),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert refused.status_code == 400
    assert db_state() == before

    accepted = money_post.client.post(
        money_post.url,
        money_post.raw('"1.50"'),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["amount"] == "1.50"
