from django.core.management.base import BaseCommand, CommandError

from accounts.ledger import find_discrepancies


class Command(BaseCommand):
    help = (
        "Recompute every cached balance from the ledger legs; exit 1 on any difference."
    )

    def handle(self, *args, **options):
        problems = find_discrepancies()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger discrepancies", returncode=1)
        self.stdout.write("Ledger consistent: every cached balance equals its legs.")
