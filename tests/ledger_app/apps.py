from django.apps import AppConfig


class LedgerTestAppConfig(AppConfig):
    name = "tests.ledger_app"
    label = "ledger_test_app"
