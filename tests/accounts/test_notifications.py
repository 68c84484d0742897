"""The outbox (SPEC §7): rows written in the caller's transaction, sent after
commit by a task with bounded retries and backoff, re-sent by the sweep; and the
provider's SMS sender with only its network call faked."""

import json
from datetime import timedelta

import pytest
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from django.utils import timezone
from django_tasks import task_backends

from accounts.models import Contract, CreditLimitChange
from billing_portal import tasks
from billing_portal.models import Notification
from billing_portal.sms import AliyunSender, MemorySender, SmsError
from tests.credit_helpers import D, confirm, set_limit, set_quota, sms_rows

Status = Notification.Status
DUMMY_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "QUEUES": ["default"],
    }
}


@pytest.fixture(autouse=True)
def outbox(monkeypatch):
    """A fresh MemorySender outbox for each test."""
    monkeypatch.setattr(MemorySender, "outbox", [])
    return MemorySender.outbox


@pytest.fixture
def main(company, make_account, operator, owner, grant):
    account = make_account(name="Main", mobile="+8613800138001")
    grant(owner, account, "owner")
    set_quota(company, "1000.00", actor=operator)
    return account


class FailingSender:
    """An SMS sender whose provider is down."""

    calls = 0

    def send(self, *, to, template, params):
        FailingSender.calls += 1
        raise ConnectionError("provider unreachable")


# --- written in the caller's transaction --------------------------------------------


def audit_down(**kwargs):
    raise RuntimeError("audit store down")


def test_a_rolled_back_service_writes_no_outbox_rows(
    main, owner, monkeypatch, django_capture_on_commit_callbacks
):
    # The audit row is the last write of the service, after the notices.
    monkeypatch.setattr("billing_portal.audit.record", audit_down)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        set_limit(main, "300.00", actor=owner)

    assert callbacks == []
    assert Notification.objects.count() == 0
    assert Contract.objects.count() == 0
    assert CreditLimitChange.objects.count() == 0


def test_a_rolled_back_confirmation_queues_no_sms(
    main, owner, monkeypatch, django_capture_on_commit_callbacks, outbox
):
    _status, contract = set_limit(main, "300.00", actor=owner)
    monkeypatch.setattr("billing_portal.audit.record", audit_down)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        confirm(contract, actor=owner)

    assert callbacks == []
    assert sms_rows(main).count() == 0
    assert outbox == []
    contract.refresh_from_db()
    main.refresh_from_db()
    assert contract.status == Contract.Status.PENDING
    assert main.credit_limit == D("0.00")


def test_rows_stay_queued_until_the_transaction_commits(
    main, owner, django_capture_on_commit_callbacks, outbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _status, contract = set_limit(main, "300.00", actor=owner)
        confirm(contract, actor=owner)

    # One send per row, each waiting for the commit: one portal notice, one SMS.
    assert len(callbacks) == Notification.objects.count() == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.QUEUED}
    assert outbox == []


# --- sent after commit ----------------------------------------------------------------


def test_after_commit_the_task_sends_each_row_and_marks_it_sent(
    main, owner, django_capture_on_commit_callbacks, outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        _status, contract = set_limit(main, "300.00", actor=owner)
    notice = Notification.objects.get(channel=Notification.Channel.PORTAL)
    assert (notice.status, notice.attempts) == (Status.SENT, 1)
    assert outbox == []  # a portal notice is not an SMS

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        confirm(contract, actor=owner)

    sms = sms_rows(main).get()
    assert sms.status == Status.SENT
    assert sms.attempts == 1
    assert before <= sms.sent_at <= timezone.now()
    assert sms.last_error == ""
    assert sms.provider_message_id == "memory-1"
    assert outbox == [
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


def test_a_sent_row_is_not_sent_twice(main, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _status, contract = set_limit(main, "300.00", actor=owner)
        confirm(contract, actor=owner)
    sms = sms_rows(main).get()

    assert tasks.send_notification.call(sms.pk) == "skipped"

    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (Status.SENT, 1)
    assert len(MemorySender.outbox) == 1


def test_backoff_doubles_from_the_base_and_is_capped(settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 10

    assert [tasks.backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 20)] == [
        10,
        20,
        40,
        80,
        600,
        600,
    ]


def test_a_failing_sender_retries_with_backoff_then_fails_with_the_error(
    main, owner, settings, django_capture_on_commit_callbacks, monkeypatch
):
    # The dummy backend keeps what is enqueued (with its run_after) instead of
    # running it; each retry below is run as the worker would run it.
    settings.TASKS = DUMMY_TASKS
    settings.SMS_SENDER = f"{__name__}.FailingSender"
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 10
    monkeypatch.setattr(FailingSender, "calls", 0)
    backend = task_backends["default"]

    with django_capture_on_commit_callbacks(execute=True):
        _status, contract = set_limit(main, "300.00", actor=owner)
        confirm(contract, actor=owner)
    sms = sms_rows(main).get()
    queued = [r for r in backend.results if list(r.args) == [sms.pk]]
    assert len(queued) == 1
    assert queued[0].task.run_after is None  # the first send: at once

    delays = []
    outcomes = []
    for _attempt in range(3):
        result = [r for r in backend.results if list(r.args) == [sms.pk]][-1]
        count = len(backend.results)
        started = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            outcomes.append(result.task.call(*result.args))
        new = backend.results[count:]
        if new:
            assert len(new) == 1
            delay = new[0].task.run_after - started
            delays.append(round(delay.total_seconds()))

    assert outcomes == ["retry", "retry", "failed"]
    assert delays == [10, 20]  # no retry after the last attempt
    assert FailingSender.calls == 3
    sms.refresh_from_db()
    assert sms.status == Status.FAILED
    assert sms.attempts == 3
    assert sms.last_error == "ConnectionError: provider unreachable"
    assert sms.sent_at is None
    # A failed row is final: a late retry does nothing.
    assert tasks.send_notification.call(sms.pk) == "skipped"
    assert FailingSender.calls == 3


def test_a_retry_that_succeeds_marks_the_row_sent(
    main, owner, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    settings.SMS_SENDER = f"{__name__}.FailingSender"
    with django_capture_on_commit_callbacks(execute=True):
        _status, contract = set_limit(main, "300.00", actor=owner)
        confirm(contract, actor=owner)
    sms = sms_rows(main).get()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_notification.call(sms.pk) == "retry"

    settings.SMS_SENDER = "billing_portal.sms.MemorySender"
    assert tasks.send_notification.call(sms.pk) == "sent"

    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.last_error) == (Status.SENT, 2, "")
    assert len(MemorySender.outbox) == 1


# --- the sweep re-sends rows still queued --------------------------------------------


def test_resend_stale_sends_rows_still_queued_and_only_those(main, owner, outbox):
    # No commit callbacks run here: the enqueue was "lost", the rows wait.
    _status, contract = set_limit(main, "300.00", actor=owner)
    confirm(contract, actor=owner)
    sms = sms_rows(main).get()
    notice = Notification.objects.get(channel=Notification.Channel.PORTAL)
    failed = Notification.objects.create(
        channel=Notification.Channel.SMS,
        to="+8613800138009",
        template="credit_limit_changed",
        account=main,
        status=Status.FAILED,
        attempts=5,
        last_error="gave up",
    )

    assert tasks.resend_stale(older_than=timedelta(seconds=60)) == 0
    assert outbox == []

    old = timezone.now() - timedelta(minutes=2)
    Notification.objects.filter(pk__in=[sms.pk, failed.pk]).update(created_at=old)

    assert tasks.resend_stale(older_than=timedelta(seconds=60)) == 1

    sms.refresh_from_db()
    notice.refresh_from_db()
    failed.refresh_from_db()
    assert (sms.status, sms.attempts) == (Status.SENT, 1)
    assert notice.status == Status.QUEUED  # not stale yet
    assert (failed.status, failed.attempts) == (Status.FAILED, 5)
    assert [m["to"] for m in outbox] == ["+8613800138001"]
    assert tasks.resend_stale(older_than=timedelta(seconds=60)) == 0


# --- the provider's SMS SDK, with only its network call faked ------------------------


@pytest.fixture
def aliyun(settings, monkeypatch):
    settings.ALIYUN_ACCESS_KEY_ID = "LTAI-test-id"
    settings.ALIYUN_ACCESS_KEY_SECRET = "test-secret"
    settings.ALIYUN_SMS_SIGN_NAME = "Cloud Billing"
    settings.ALIYUN_SMS_TEMPLATES = {"credit_limit_changed": "SMS_480200001"}
    settings.ALIYUN_SMS_ENDPOINT = "dysmsapi.aliyuncs.com"
    sent = []
    reply = {"code": "OK", "message": "OK", "biz_id": "900619746936498440^0"}

    def send_sms(self, request):
        sent.append(request)
        if isinstance(reply.get("raise"), Exception):
            raise reply["raise"]
        return sms_models.SendSmsResponse(
            status_code=200,
            body=sms_models.SendSmsResponseBody(
                code=reply["code"],
                message=reply["message"],
                biz_id=reply["biz_id"],
                request_id="F655A8D5-B967-440B-8683-DAD6FF8DE990",
            ),
        )

    monkeypatch.setattr(Client, "send_sms", send_sms)
    return {"sent": sent, "reply": reply}


PARAMS = {"account": "1000000000000001", "limit": "300.00", "currency": "CNY"}


def test_aliyun_sender_builds_the_send_sms_request(aliyun):
    sender = AliyunSender()

    message_id = sender.send(
        to="+8613800138001", template="credit_limit_changed", params=PARAMS
    )

    assert message_id == "900619746936498440^0"
    (request,) = aliyun["sent"]
    assert isinstance(request, sms_models.SendSmsRequest)
    assert request.phone_numbers == "8613800138001"
    assert request.sign_name == "Cloud Billing"
    assert request.template_code == "SMS_480200001"
    assert json.loads(request.template_param) == PARAMS
    assert request.template_param == json.dumps(PARAMS, sort_keys=True)
    assert isinstance(sender.client, Client)


def test_aliyun_sender_raises_the_providers_error_code(aliyun):
    aliyun["reply"].update(
        code="isv.BUSINESS_LIMIT_CONTROL", message="Flow control", biz_id=None
    )

    with pytest.raises(SmsError) as excinfo:
        AliyunSender().send(
            to="+8613800138001", template="credit_limit_changed", params=PARAMS
        )

    assert str(excinfo.value) == "isv.BUSINESS_LIMIT_CONTROL: Flow control"


def test_aliyun_sender_wraps_an_sdk_exception(aliyun):
    aliyun["reply"]["raise"] = RuntimeError("connect timeout")

    with pytest.raises(SmsError) as excinfo:
        AliyunSender().send(
            to="+8613800138001", template="credit_limit_changed", params=PARAMS
        )

    assert str(excinfo.value) == "connect timeout"


def test_aliyun_sender_refuses_a_template_without_a_provider_code(aliyun):
    with pytest.raises(SmsError) as excinfo:
        AliyunSender().send(to="+8613800138001", template="unknown", params={})

    assert "unknown" in str(excinfo.value)
    assert aliyun["sent"] == []


def test_the_outbox_sends_through_aliyun_and_records_its_answer(
    aliyun, main, owner, settings, django_capture_on_commit_callbacks
):
    settings.SMS_SENDER = "billing_portal.sms.AliyunSender"
    _status, contract = set_limit(main, "300.00", actor=owner)

    with django_capture_on_commit_callbacks(execute=True):
        confirm(contract, actor=owner)

    sms = sms_rows(main).get()
    assert (sms.status, sms.provider_message_id) == (
        Status.SENT,
        "900619746936498440^0",
    )
    (request,) = aliyun["sent"]
    assert request.phone_numbers == "8613800138001"
    assert json.loads(request.template_param) == {
        "account": main.uid,
        "name": "Main",
        "limit": "300.00",
        "currency": "CNY",
    }


def test_a_provider_refusal_is_kept_as_the_rows_last_error(
    aliyun, main, owner, settings, django_capture_on_commit_callbacks
):
    settings.SMS_SENDER = "billing_portal.sms.AliyunSender"
    settings.TASKS = DUMMY_TASKS
    aliyun["reply"].update(code="isv.MOBILE_NUMBER_ILLEGAL", message="Bad number")
    _status, contract = set_limit(main, "300.00", actor=owner)
    confirm(contract, actor=owner)
    sms = sms_rows(main).get()

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_notification.call(sms.pk) == "retry"

    sms.refresh_from_db()
    assert sms.status == Status.QUEUED
    assert sms.last_error == "SmsError: isv.MOBILE_NUMBER_ILLEGAL: Bad number"


def test_the_outbox_shows_the_message_the_person_received(
    client, company, make_account, operator, owner, grant
):
    """Issue 12: no template ids or JSON parameters on screen."""
    from django.urls import reverse

    from tests.credit_helpers import activate_limit, set_quota

    main = make_account(name="Main", mobile="+8613800138001")
    grant(owner, main, "owner")
    set_quota(company, "1000.00", actor=operator)
    activate_limit(main, "300.00", admin=operator, owner=owner)
    client.force_login(operator)
    page = client.get(reverse("admin:billing_portal_notification_changelist"))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"The credit limit of account Main ({main.uid}) is now 300.00 CNY." in html
    assert "credit_limit_changed" not in html.replace(
        'value="credit_limit_changed"', ""
    ).replace("template=credit_limit_changed", "")
