"""Make the ledger append-only in the database itself, not only in the ORM."""

from django.db import migrations

TABLES = ["accounts_movement", "accounts_posting", "accounts_settlementallocation"]

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards_sql():
    statements = [FUNCTION]
    for table in TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();"
        )
    return "\n".join(statements)


def backwards_sql():
    statements = [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};" for t in TABLES]
    statements.append("DROP FUNCTION IF EXISTS ledger_refuse_change();")
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(forwards_sql(), backwards_sql())]
