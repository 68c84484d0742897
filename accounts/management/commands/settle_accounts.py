from django.core.management.base import BaseCommand

from accounts.services import settle_all


class Command(BaseCommand):
    help = "Pay uncleared charges from cash for every account that has both."

    def handle(self, *args, **options):
        settled = settle_all()
        self.stdout.write(f"Settled {settled} account(s).")
