"""Fixtures and helpers for the tenant-scoped admin tests.

Imported explicitly by tests/accounts/test_admin_portal.py and by the browser
tests (tests/e2e/); the fixtures it uses (operator, company, …) come from
tests/conftest.py.

The portal world (money only through services):

company A "Acme" (verified)                  company B "Globex" (verified)
  a_main  CNY  own 600                          b1 CNY own 450
  a_dev   CNY  own 50, in 300, uncleared 20     b2 CNY in 50, uncleared 1
  a_usd   USD  own 80
  a_hidden CNY in 100 (no customer access)

a_main's first top-up (1000.00) was posted on 2024-03-15 (date filters).
owner: owner on a_main, a_dev, a_usd; manager: manage on a_main, a_dev;
viewer: use on a_main, a_dev; cbm: business manager of A; outsider: owner
of b1 and b2.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.utils import timezone

from accounts.models import Account, Company, Movement
from billing_portal import roles
from sharing.services import record_usage
from tests.factories import AccountFactory, UserFactory

PAST_TOP_UP_AT = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
MISSING = 999999


@dataclass
class Portal:
    company: Company
    other_company: Company
    operator: object
    owner: object
    manager: object
    viewer: object
    cbm: object
    outsider: object
    a_main: Account
    a_dev: Account
    a_usd: Account
    a_hidden: Account
    b1: Account
    b2: Account
    b_transfer: Movement

    def refresh(self):
        for name in ("a_main", "a_dev", "a_usd", "a_hidden", "b1", "b2"):
            getattr(self, name).refresh_from_db()
        return self

    def user(self, role):
        return getattr(self, role)


def _usage(account, external_id, amount, operator):
    now = timezone.now()
    record, created = record_usage(
        external_id=external_id,
        account=account,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=now - timedelta(hours=3),
        usage_end=now - timedelta(hours=2),
        amount=Decimal(amount),
        billed_at=now - timedelta(hours=1),
        actor=operator,
    )
    assert created
    account.refresh_from_db()
    return record


@pytest.fixture(name="portal")
def portal_fixture(operator, company, other_company, owner, grant, fund, transfer):
    """The two companies, their users and their money (see the module doc)."""
    manager = UserFactory(username="manager")
    viewer = UserFactory(username="viewer")
    outsider = UserFactory(username="outsider")
    cbm = UserFactory(username="cbm")
    cbm.groups.add(roles.ensure_groups()[roles.CBM])
    # Test setup, not a money write: the business manager is a plain field.
    Company.objects.filter(pk=company.pk).update(business_manager=cbm)

    def account(uid, name, comp, currency="CNY"):
        return AccountFactory(uid=uid, name=name, company=comp, currency=currency)

    a_main = account("1000000000000101", "Acme Main", company)
    a_dev = account("1000000000000102", "Acme Dev", company)
    a_usd = account("1000000000000103", "Acme Dollar", company, "USD")
    a_hidden = account("1000000000000104", "Acme Hidden", company)
    b1 = account("2000000000000201", "Globex HQ", other_company)
    b2 = account("2000000000000202", "Globex Ops", other_company)

    for acct in (a_main, a_dev, a_usd):
        grant(owner, acct, "owner")
    for acct in (a_main, a_dev):
        grant(manager, acct, "manage")
        grant(viewer, acct, "use")
    for acct in (b1, b2):
        grant(outsider, acct, "owner")

    with mock.patch("django.utils.timezone.now", return_value=PAST_TOP_UP_AT):
        fund(a_main, "1000.00")
    fund(a_dev, "50.00")
    transfer(a_main, a_dev, "300.00", actor=owner)
    transfer(a_main, a_hidden, "100.00", actor=owner)
    _usage(a_dev, "acme-usage-1", "20.00", operator)
    fund(a_usd, "80.00")
    fund(b1, "500.00")
    b_transfer = transfer(b1, b2, "50.00", actor=outsider)
    _usage(b2, "globex-usage-1", "1.00", operator)

    world = Portal(
        company=company,
        other_company=other_company,
        operator=operator,
        owner=owner,
        manager=manager,
        viewer=viewer,
        cbm=cbm,
        outsider=outsider,
        a_main=a_main,
        a_dev=a_dev,
        a_usd=a_usd,
        a_hidden=a_hidden,
        b1=b1,
        b2=b2,
        b_transfer=b_transfer,
    )
    return world.refresh()


# --- reading pages -------------------------------------------------------------

_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    @property
    def text(self) -> str:
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "img" and child.attrs.get("alt"):
                parts.append(child.attrs["alt"])
            else:
                parts.append(child.text)
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag=None, **attrs):
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag)
            and all(
                (node.attrs.get(k.rstrip("_")) or "").split() == v.split()
                if k == "class_"
                else node.attrs.get(k) == v
                for k, v in attrs.items()
            )
        ]

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def with_class(self, name):
        return [n for n in self.iter() if name in (n.attrs.get("class") or "").split()]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in _VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(response) -> Node:
    builder = _TreeBuilder()
    builder.feed(response.content.decode())
    return builder.root


def table_rows(node: Node) -> list[list[str]]:
    """Cell texts (th and td) of every row of a table (or any node)."""
    return [
        [cell.text for cell in row.children if isinstance(cell, Node)]
        for row in node.find_all("tr")
    ]


def result_rows(response) -> list[list[str]]:
    """The changelist's result rows, without the action checkbox column."""
    table = parse(response).find("table", id="result_list")
    if table is None:
        return []
    rows = []
    for row in table.find("tbody").find_all("tr"):
        cells = [c for c in row.children if isinstance(c, Node)]
        if cells and cells[0].find("input", type="checkbox"):
            cells = cells[1:]
        rows.append([c.text for c in cells])
    return rows


def messages_of(response) -> list[str]:
    """The messages a (followed) admin page shows."""
    return [li.text for li in parse(response).find_all("li") if _is_message(li)]


def _is_message(li: Node) -> bool:
    parent = li.parent
    return parent is not None and "messagelist" in (parent.attrs.get("class") or "")


def with_code(li: Node) -> str:
    """A reason as "sentence code": the page shows the sentence; its code is
    only in the ``data-reason`` attribute (never shown to a customer)."""
    code = li.attrs.get("data-reason")
    assert code, f"a reason without its data-reason attribute: {li.text!r}"
    assert code not in li.text, f"a reason code shown on the page: {li.text!r}"
    return f"{li.text} {code}"


def reason_items(response) -> list[str]:
    """The reason sentences listed on a page, each followed by its code."""
    root = parse(response)
    return [
        with_code(li)
        for ul in root.with_class("portal-reasons")
        for li in ul.find_all("li")
    ]


def refusal_items(response) -> list[str]:
    """The refusal's reasons on a page: "sentence code" each (see with_code)."""
    root = parse(response)
    return [
        with_code(li) for ul in root.with_class("refusal") for li in ul.find_all("li")
    ]


def disabled_button(node, label):
    """The disabled button ``label`` of a part of a page and the reasons shown
    with it (sentences, the lead first), or None when there is none."""
    for span in node.with_class("portal-disabled"):
        if span.text == label:
            whys = span.parent.with_class("portal-why")
            why = whys[0] if whys else span  # an object tool: its tooltip only
            return {
                "title": span.attrs.get("title"),
                "lead": "".join(p.text for p in why.with_class("portal-lead")),
                "reasons": [li.text for li in why.find_all("li")],
                "links": [a.attrs.get("href") for a in why.find_all("a")],
            }
    return None


def shown_reasons(node: Node) -> list[str]:
    """The reason sentences of a part of a page, as the reader sees them."""
    return [li.text for li in node.find_all("li") if li.attrs.get("data-reason")]


# --- review → confirm ----------------------------------------------------------


def confirmation_fields(response) -> dict:
    """The hidden fields of the page's confirming form, its one-time token
    included (``confirm``, ``confirmation_token`` and the reviewed values)."""
    for form in parse(response).find_all("form"):
        fields = {
            node.attrs["name"]: node.attrs.get("value", "")
            for node in form.find_all("input")
            if node.attrs.get("type") == "hidden"
            and node.attrs.get("name")
            and node.attrs["name"] != "csrfmiddlewaretoken"
        }
        if fields.get("confirmation_token"):
            return fields
    raise AssertionError("the page has no confirming form with a token")


def review_and_confirm(client, url, data=None, **kwargs):
    """Open the review page (POST ``data``, or GET without it), then send its
    confirming form as the user's "Yes" does. Returns the confirming response."""
    review = client.post(url, data) if data is not None else client.get(url)
    assert review.status_code == 200, review.status_code
    return client.post(url, {**(data or {}), **confirmation_fields(review)}, **kwargs)
