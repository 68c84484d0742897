"""Factories for rows without money. Balances come only from services (see
``fund`` and friends in tests/conftest.py), so ledger invariants always hold."""

import factory
from django.contrib.auth import get_user_model

from accounts.models import Account, AccountAccess, Company


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    registration_number = factory.Sequence(lambda n: f"REG{n:010d}")
    verification_status = Company.Verification.VERIFIED


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    uid = factory.Sequence(lambda n: f"{1000000000000000 + n}")
    name = factory.Sequence(lambda n: f"Account {n}")
    company = factory.SubFactory(CompanyFactory)
    currency = "CNY"
    mobile = "+8613800138000"


class AccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountAccess

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    permission = AccountAccess.Permission.OWNER
