"""The real worker (SPEC §7, STACK "Background tasks"): django-tasks-db on
PostgreSQL, ``db_worker`` run in-process, and the self-scheduling sweep."""

import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing_portal import tasks
from billing_portal.models import Notification
from billing_portal.sms import MemorySender
from tests.credit_helpers import D, confirm, set_limit, set_quota, sms_rows

DATABASE_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
SEND_PATH = "billing_portal.tasks.send_notification"


@pytest.fixture
def database_tasks(db, settings, monkeypatch):
    """Tasks go to the database queue (setting TASKS resets django_tasks'
    backend cache through its setting_changed receiver)."""
    settings.TASKS = DATABASE_TASKS
    monkeypatch.setattr(MemorySender, "outbox", [])
    return settings


def run_worker():
    """Drain the queue with the real worker, in this process (it must see the
    test database); keep pytest's signal handlers."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command(
            "db_worker", batch=True, startup_delay=False, interval=0, verbosity=0
        )
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_the_real_worker_sends_the_sms_of_a_confirmed_limit(
    database_tasks, company, make_account, operator, owner, grant, fund, charge
):
    main = make_account(name="Main", mobile="+8613800138001")
    grant(owner, main, "owner")
    set_quota(company, "1000.00", actor=operator)
    fund(main, "50.00")

    _status, contract = set_limit(main, "300.00", actor=owner)
    confirm(contract, actor=owner)

    sms = sms_rows(main).get()
    assert sms.status == Notification.Status.QUEUED
    # Each commit enqueued one task per outbox row: the notice and the SMS.
    waiting = DBTaskResult.objects.filter(task_path=SEND_PATH, status="READY")
    assert sorted(r.args_kwargs["args"][0] for r in waiting) == sorted(
        Notification.objects.values_list("pk", flat=True)
    )

    deadline = time.monotonic() + 30
    while sms.status == Notification.Status.QUEUED and time.monotonic() < deadline:
        run_worker()
        sms.refresh_from_db()

    assert sms.status == Notification.Status.SENT
    assert sms.attempts == 1
    assert sms.sent_at is not None
    assert MemorySender.outbox == [
        {
            "to": "+8613800138001",
            "template": "credit_limit_changed",
            "params": {
                "account": main.uid,
                "name": "Main",
                "limit": "300.00",
                "currency": "CNY",
            },
        }
    ]
    done = DBTaskResult.objects.filter(task_path=SEND_PATH)
    assert {(r.status, r.return_value) for r in done} == {("SUCCESSFUL", "sent")}
    assert done.count() == 2
    main.refresh_from_db()
    assert main.credit_limit == D("300.00")
    assert main.available_balance == D("350.00")

    # The sweep, run by the worker: settles, re-sends nothing, schedules itself.
    charge(main, "20.00")
    tasks.periodic_sweep.enqueue()
    run_worker()

    swept = DBTaskResult.objects.get(
        task_path=tasks.SWEEP_TASK_PATH, status="SUCCESSFUL"
    )
    assert swept.return_value == {
        "resent": 0,
        "settled": 1,
        "assets_expired": 0,
        "shares_resolved": 0,
        "pools_expired": 0,
    }
    main.refresh_from_db()
    assert (main.cash_balance, main.uncleared_amount) == (D("30.00"), D("0.00"))
    following = DBTaskResult.objects.get(
        task_path=tasks.SWEEP_TASK_PATH, status="READY"
    )
    assert following.run_after > timezone.now()


def test_schedule_sweep_enqueues_exactly_one_waiting_sweep(database_tasks):
    database_tasks.SWEEP_INTERVAL_SECONDS = 60
    before = timezone.now()

    assert tasks.schedule_sweep() is True
    assert tasks.schedule_sweep() is False

    (sweep,) = DBTaskResult.objects.filter(task_path=tasks.SWEEP_TASK_PATH)
    assert sweep.status == "READY"
    assert before + timedelta(seconds=60) <= sweep.run_after
    assert sweep.run_after <= timezone.now() + timedelta(seconds=60)


def test_the_sweep_resends_stale_rows_settles_and_schedules_no_duplicate(
    database_tasks, company, make_account, operator, owner, grant, fund, charge
):
    main = make_account(name="Main")
    grant(owner, main, "owner")
    set_quota(company, "1000.00", actor=operator)
    set_limit(main, "300.00", actor=owner)  # its notice's enqueue was lost
    Notification.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    fund(main, "40.00")
    charge(main, "15.00")
    tasks.schedule_sweep()

    assert tasks.periodic_sweep.call() == {
        "resent": 1,
        "settled": 1,
        "assets_expired": 0,
        "shares_resolved": 0,
        "pools_expired": 0,
    }

    main.refresh_from_db()
    assert (main.cash_balance, main.uncleared_amount) == (D("25.00"), D("0.00"))
    resent = DBTaskResult.objects.get(task_path=SEND_PATH)
    assert resent.args_kwargs["args"] == [Notification.objects.get().pk]
    assert (
        DBTaskResult.objects.filter(
            task_path=tasks.SWEEP_TASK_PATH, status="READY"
        ).count()
        == 1
    )
