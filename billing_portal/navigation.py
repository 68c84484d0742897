"""The portal's navigation by task (issue 12), like the provider's console: the
sidebar and the home page group the admin's pages by what a person is doing,
whatever app defines the model.

One table: each section's slug, title and models ("app_label.ModelName"), in
menu order, each section's models in the order one meets the task. A model
that is registered in the admin and missing here is still shown, under
"Other" (``OTHER``), and a test fails on it: a new model never silently
disappears from the menu. Each page is shown only to those who may open it, so
a section nobody may open any page of is not shown.
"""

from django.utils.translation import gettext_lazy as _

SECTIONS = [
    (
        "expenses",
        _("Expenses and Costs"),
        [
            "accounts.Account",
            "accounts.Posting",
            "accounts.Movement",
            "accounts.Charge",
            "accounts.Contract",
            "accounts.TransferPair",
            "accounts.OverdueEpisode",
        ],
    ),
    (
        "enterprise",
        _("Enterprise"),
        [
            "accounts.Company",
            "accounts.FinancialRelationship",
            "accounts.Folder",
            "accounts.AccountAccess",
            "accounts.AccessRequest",
            "accounts.AccessException",
        ],
    ),
    (
        "equity-sharing",
        _("Equity sharing"),
        [
            "sharing.Asset",
            "sharing.Share",
            "sharing.SharingRule",
            "sharing.UsageRecord",
            "sharing.Deduction",
        ],
    ),
    (
        "credit-pools",
        _("Coupon credit pools"),
        ["coupons.CreditPool", "coupons.Coupon", "coupons.Product"],
    ),
    (
        "administration",
        _("Administration"),
        [
            "billing_portal.Notification",
            "billing_portal.AuditEvent",
            "auth.User",
            "auth.Group",
            "authtoken.TokenProxy",
            "django_tasks_database.DBTaskResult",
            "axes.AccessAttempt",
            "axes.AccessFailureLog",
            "axes.AccessLog",
        ],
    ),
]

#: Where a registered model missing from ``SECTIONS`` goes (a test fails on it).
OTHER = ("other", _("Other"))


def model_key(model) -> str:
    """A model's name in the table: ``app_label.ModelName``."""
    return f"{model._meta.app_label}.{model._meta.object_name}"


def section_of(model) -> tuple[str, str]:
    """(slug, title) of the section a model's pages belong to: the breadcrumbs
    name the task, as the menu does, not the app that defines the model."""
    key = model_key(model)
    for slug, title, keys in SECTIONS:
        if key in keys:
            return slug, title
    return OTHER
