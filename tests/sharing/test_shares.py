"""Sharing (SPEC §4.2, §4.3): account shares apply at once, folder shares and
automatic rules on the worker, the 100-recipient limit, company checks, no
re-share, stopping, and history of periods."""

import signal
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Company, Folder
from accounts.services import create_folder, place_accounts
from billing_portal.errors import ActionForbidden, SharingRefused
from sharing import selectors
from sharing.models import Share, SharePeriod
from sharing.services import (
    create_sharing_rule,
    resolve_share,
    share_with_accounts,
    share_with_folder,
    stop_folder_share,
    stop_share,
)
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(make_account, owner, grant, provision):
    """An account A administered by ``owner`` and its savings plan."""
    a = make_account(name="A")
    grant(owner, a, "owner")
    return a, provision("savings_plan", a, commitment_per_hour="5.00")


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def open_recipients(asset) -> set[int]:
    return set(
        SharePeriod.objects.filter(asset=asset, end__isnull=True).values_list(
            "recipient", flat=True
        )
    )


def test_account_share_applies_at_once(owned, make_account, owner):
    _a, plan = owned
    b, c = make_account(), make_account()
    before = timezone.now()
    shares = share_with_accounts(asset=plan, accounts=[b, c], actor=owner)
    assert [s.status for s in shares] == ["active", "active"]
    assert open_recipients(plan) == {b.pk, c.pk}
    period = SharePeriod.objects.get(asset=plan, recipient=b)
    assert before <= period.start <= timezone.now()
    # Sharing again changes nothing: one open period per recipient.
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    assert SharePeriod.objects.filter(asset=plan, recipient=b).count() == 1
    assert [
        p.recipient_id
        for p in selectors.list_recipients(plan, active_at=timezone.now())
    ] == [b.pk, c.pk]


def test_the_101st_recipient_is_refused_and_nothing_changes(owned, company, owner):
    _a, plan = owned
    hundred = AccountFactory.create_batch(100, company=company)
    share_with_accounts(asset=plan, accounts=hundred[:60], actor=owner)
    share_with_accounts(asset=plan, accounts=hundred[60:], actor=owner)
    assert selectors.count_recipients(plan) == 100
    extra = AccountFactory(company=company)
    with pytest.raises(SharingRefused) as excinfo:
        share_with_accounts(asset=plan, accounts=[extra], actor=owner)
    assert codes(excinfo) == ["recipient_limit_exceeded"]
    assert "101" in excinfo.value.reasons[0].message
    assert selectors.count_recipients(plan) == 100
    # Stopping one frees a place.
    stop_share(asset=plan, account=hundred[0], actor=owner)
    share_with_accounts(asset=plan, accounts=[extra], actor=owner)
    assert selectors.count_recipients(plan) == 100


def test_company_checks(owned, owner, other_company, company):
    a, plan = owned
    stranger = AccountFactory(company=other_company)
    with pytest.raises(SharingRefused) as excinfo:
        share_with_accounts(asset=plan, accounts=[stranger, a], actor=owner)
    assert codes(excinfo) == ["different_company", "same_account"]
    company.verification_status = Company.Verification.UNVERIFIED
    company.save()
    a.refresh_from_db()
    plan.refresh_from_db()
    with pytest.raises(SharingRefused) as excinfo:
        share_with_accounts(
            asset=plan, accounts=[AccountFactory(company=company)], actor=owner
        )
    assert codes(excinfo) == ["company_not_verified"]
    assert SharePeriod.objects.count() == 0


def test_recipient_cannot_reshare_and_others_are_not_owners(
    owned, make_account, owner, grant
):
    _a, plan = owned
    b = make_account()
    recipient_admin = UserFactory()
    grant(recipient_admin, b, "owner")
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    with pytest.raises(ActionForbidden) as excinfo:
        share_with_accounts(
            asset=plan, accounts=[make_account()], actor=recipient_admin
        )
    assert codes(excinfo) == ["reshare_not_allowed"]
    with pytest.raises(ActionForbidden) as excinfo:
        stop_share(asset=plan, account=b, actor=recipient_admin)
    assert codes(excinfo) == ["reshare_not_allowed"]
    viewer = UserFactory()
    grant(viewer, plan.owner, "use")
    with pytest.raises(ActionForbidden) as excinfo:
        share_with_accounts(asset=plan, accounts=[make_account()], actor=viewer)
    assert codes(excinfo) == ["not_owner"]


def test_stopping_keeps_the_history(owned, make_account, owner):
    _a, plan = owned
    b = make_account()
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    first = stop_share(asset=plan, account=b, actor=owner)
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    periods = list(selectors.list_recipients(plan))
    assert [(p.recipient_id, p.end is None) for p in periods] == [
        (b.pk, False),
        (b.pk, True),
    ]
    assert periods[0].end == first.end
    assert list(selectors.list_recipients(plan, active_at=first.start)) == [periods[0]]
    assert Share.objects.filter(asset=plan, status="stopped").count() == 1
    with pytest.raises(SharingRefused) as excinfo:
        stop_share(asset=plan, account=make_account(), actor=owner)
    assert codes(excinfo) == ["invalid_state"]


@pytest.fixture
def tree(company, operator):
    """Folders root > Sales > East, with two accounts in Sales and one in East."""
    root = Folder.objects.get(company=company, parent__isnull=True)
    sales = create_folder(company=company, name="Sales", parent=root, actor=operator)
    east = create_folder(company=company, name="East", parent=sales, actor=operator)
    s1, s2, e1 = (AccountFactory(company=company) for _ in range(3))
    place_accounts(folder=sales, accounts=[s1, s2], actor=operator)
    place_accounts(folder=east, accounts=[e1], actor=operator)
    return sales, east, (s1, s2, e1)


def due_now(share):
    Share.objects.filter(pk=share.pk).update(due_at=timezone.now())


def test_folder_share_waits_for_the_worker_then_follows_the_folder(
    owned, owner, tree, operator, django_capture_on_commit_callbacks
):
    _a, plan = owned
    sales, east, (s1, s2, e1) = tree
    with django_capture_on_commit_callbacks(execute=True):
        share = share_with_folder(asset=plan, folder=sales, actor=owner)
    share.refresh_from_db()
    # Saved: pending with its due time, nothing applied (the immediate test
    # backend ran the job, which found it not yet due).
    assert share.status == "pending"
    assert share.due_at > timezone.now() + timedelta(seconds=50)
    assert open_recipients(plan) == set()
    assert resolve_share(share.pk) == "not_due"

    due_now(share)
    assert resolve_share(share.pk) == "active"
    assert open_recipients(plan) == {s1.pk, s2.pk, e1.pk}

    # e1 leaves the subtree, a newcomer joins: rescheduled about a minute later.
    newcomer = AccountFactory(company=plan.owner.company)
    root = Folder.objects.get(company=plan.owner.company, parent__isnull=True)
    with django_capture_on_commit_callbacks(execute=True):
        place_accounts(folder=root, accounts=[e1], actor=operator)
        place_accounts(folder=east, accounts=[newcomer], actor=operator)
    share.refresh_from_db()
    assert share.due_at > timezone.now() + timedelta(seconds=50)
    assert open_recipients(plan) == {s1.pk, s2.pk, e1.pk}
    due_now(share)
    assert resolve_share(share.pk) == "active"
    assert open_recipients(plan) == {s1.pk, s2.pk, newcomer.pk}
    left = SharePeriod.objects.get(asset=plan, recipient=e1)
    assert left.end is not None

    # Stopping the folder share ends its periods.
    stop_folder_share(share=share, actor=owner)
    assert open_recipients(plan) == set()


def test_a_folder_share_over_the_limit_fails_visibly_and_changes_nothing(
    owned, owner, company, operator, make_account
):
    _a, plan = owned
    root = Folder.objects.get(company=company, parent__isnull=True)
    big = create_folder(company=company, name="Big", parent=root, actor=operator)
    members = AccountFactory.create_batch(101, company=company)
    place_accounts(folder=big, accounts=members, actor=operator)
    share = share_with_folder(asset=plan, folder=big, actor=owner)
    due_now(share)
    assert resolve_share(share.pk) == "failed"
    share.refresh_from_db()
    assert share.status == "failed"
    assert "101" in share.detail
    assert open_recipients(plan) == set()
    # One account leaves; sharing the folder again tries again.
    root_members = [members[0]]
    place_accounts(folder=root, accounts=root_members, actor=operator)
    again = share_with_folder(asset=plan, folder=big, actor=owner)
    assert again.pk == share.pk
    again.refresh_from_db()
    assert again.due_at > timezone.now()
    due_now(again)
    assert resolve_share(again.pk) == "active"
    assert len(open_recipients(plan)) == 100


def test_account_in_a_shared_folder_cannot_be_stopped_alone(owned, owner, tree):
    _a, plan = owned
    sales, _east, (s1, _s2, _e1) = tree
    share = share_with_folder(asset=plan, folder=sales, actor=owner)
    due_now(share)
    resolve_share(share.pk)
    with pytest.raises(SharingRefused) as excinfo:
        stop_share(asset=plan, account=s1, actor=owner)
    assert codes(excinfo) == ["invalid_state"]
    assert "Sales" in excinfo.value.reasons[0].message


def test_an_automatic_rule_shares_a_new_asset_once(
    make_account, owner, grant, provision
):
    a = make_account(name="A")
    b = make_account(name="B")
    grant(owner, a, "owner")
    rule = create_sharing_rule(
        owner=a, asset_types=["scu_package"], accounts=[b], actor=owner
    )
    plan = provision("savings_plan", a, commitment_per_hour="1.00")
    assert not plan.shares.exists()  # another type: the rule does not match
    scu = provision("scu_package", a, capacity="10.00")
    share = scu.shares.get()
    assert (share.rule_id, share.status) == (rule.pk, "pending")
    assert open_recipients(scu) == set()
    due_now(share)
    assert resolve_share(share.pk) == "active"
    assert resolve_share(share.pk) == "done"  # fires once
    assert open_recipients(scu) == {b.pk}
    assert SharePeriod.objects.filter(asset=scu).count() == 1


DATABASE_TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
}


def run_worker():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command(
            "db_worker", batch=True, startup_delay=False, interval=0, verbosity=0
        )
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_the_real_worker_resolves_a_folder_share_when_due(settings, owned, owner, tree):
    settings.TASKS = DATABASE_TASKS
    settings.SHARING_RESOLVE_DELAY_SECONDS = 1
    _a, plan = owned
    sales, _east, (s1, s2, e1) = tree
    share = share_with_folder(asset=plan, folder=sales, actor=owner)
    assert open_recipients(plan) == set()
    import time

    time.sleep(1.2)
    run_worker()
    share.refresh_from_db()
    assert share.status == "active"
    assert open_recipients(plan) == {s1.pk, s2.pk, e1.pk}


def test_an_account_in_another_currency_is_refused(owned, owner, company):
    _a, plan = owned
    usd = AccountFactory(company=company, currency="USD")
    with pytest.raises(SharingRefused) as excinfo:
        share_with_accounts(asset=plan, accounts=[usd], actor=owner)
    assert codes(excinfo) == ["currency_mismatch"]
    assert usd not in selectors.list_eligible_recipients(plan)
