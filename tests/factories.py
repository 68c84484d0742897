"""Factories for rows without money. Balances come only from services (see
``fund`` and friends in tests/conftest.py), so ledger invariants always hold."""

import factory
from django.contrib.auth import get_user_model

from accounts.models import Account, AccountAccess, Company, Folder


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
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Company {n}")
    registration_number = factory.Sequence(lambda n: f"REG{n:010d}")
    verification_status = Company.Verification.VERIFIED

    @factory.post_generation
    def root_folder(obj, create, extracted, **kwargs):
        """Every company has its root folder, as create_company makes it."""
        if create:
            Folder.objects.create(company=obj, name=obj.name[:100], depth=0)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    # A range no fixture names by hand (those use 1000…, 2000…).
    uid = factory.Sequence(lambda n: f"{9000000000000000 + n}")
    name = factory.Sequence(lambda n: f"Account {n}")
    company = factory.SubFactory(CompanyFactory)
    folder = factory.LazyAttribute(
        lambda o: (
            o.company.folders.filter(parent__isnull=True).first() if o.company else None
        )
    )
    currency = "CNY"
    mobile = "+8613800138000"


class AccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountAccess

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    permission = AccountAccess.Permission.OWNER
