"""Uniqueness errors of operator-only creates reveal nothing to other users."""

import pytest

from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/accounts/",
            {"uid": "{uid}", "name": "X", "company": None, "currency": "CNY"},
        ),
        ("/api/v1/companies/", {"name": "X", "registration_number": "{reg}"}),
        (
            "/api/v1/users/",
            {"username": "op", "password": "long-enough-1", "role": "customer"},
        ),
    ],
)
def test_taken_values_get_the_same_403_as_free_ones(
    path, body, make_account, company, operator, client_for
):
    taken = make_account()
    customer = UserFactory()
    client = client_for(customer)
    filled = {
        k: v.format(uid=taken.uid, reg=company.registration_number)
        if isinstance(v, str)
        else v
        for k, v in body.items()
    }
    response = client.post(path, filled, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "no_permission"
    # An operator learns that the value is taken (a 400 on the field).
    as_operator = client_for(operator).post(path, filled, format="json")
    assert as_operator.status_code == 400
    assert set(as_operator.json()) == {
        next(iter(k for k in filled if k in ("uid", "registration_number", "username")))
    }
