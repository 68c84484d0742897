"""Helpers shared by the credit control, notification and worker tests."""

from decimal import Decimal

from accounts import services
from billing_portal import roles
from billing_portal.models import Notification
from tests.factories import UserFactory

D = Decimal
SMS = Notification.Channel.SMS
PORTAL = Notification.Channel.PORTAL


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def make_cbm(username: str):
    """A customer business manager (provider staff in the ``cbm`` group)."""
    user = UserFactory(username=username)
    user.groups.add(roles.ensure_groups()[roles.CBM])
    return user


def set_quota(company, amount, *, actor, currency="CNY"):
    return services.set_credit_quota(
        company=company, currency=currency, amount=D(amount), actor=actor
    )


def set_limit(account, amount, *, actor):
    """Set a limit through the service; refresh the account afterwards."""
    result = services.set_credit_limit(account=account, amount=D(amount), actor=actor)
    account.refresh_from_db()
    return result


def confirm(contract, *, actor, ip="203.0.113.7"):
    contract = services.confirm_contract(contract=contract, actor=actor, ip=ip)
    contract.account.refresh_from_db()
    return contract


def activate_limit(account, amount, *, admin, owner):
    """A first limit, confirmed by the owner: active from now on."""
    _status, contract = set_limit(account, amount, actor=admin)
    confirm(contract, actor=owner)
    account.refresh_from_db()
    return contract


def sms_rows(account):
    return Notification.objects.filter(channel=SMS, account=account).order_by("pk")


def portal_rows(account, template=None):
    qs = Notification.objects.filter(channel=PORTAL, account=account)
    if template:
        qs = qs.filter(template=template)
    return qs.order_by("pk")
