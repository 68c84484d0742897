from django.core.management.base import BaseCommand

from billing_portal.tasks import schedule_sweep


class Command(BaseCommand):
    help = "Make sure the periodic sweep (outbox re-send, settlement) is scheduled."

    def handle(self, *args, **options):
        if schedule_sweep():
            self.stdout.write("Periodic sweep scheduled.")
        else:
            self.stdout.write("Periodic sweep already scheduled.")
