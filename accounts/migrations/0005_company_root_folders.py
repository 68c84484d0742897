"""Every company has a root folder (its organization) holding its accounts."""

from django.db import migrations


def create_roots(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Company = apps.get_model("accounts", "Company")
    Folder = apps.get_model("accounts", "Folder")
    for company in Company.objects.filter(folders__isnull=True).distinct():
        root = Folder.objects.create(company=company, name=company.name[:100], depth=0)
        Account.objects.filter(company=company, folder__isnull=True).update(folder=root)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_enterprise_structure")]

    operations = [migrations.RunPython(create_roots, migrations.RunPython.noop)]
