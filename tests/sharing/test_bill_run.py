"""Bill runs (`import_usage`): set-wise pricing gives exactly what pricing the
same records one by one gives; idempotent per external id; resumable."""

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from accounts.models import (
    Account,
    Charge,
    FinancialRelationship,
    Movement,
    OverdueEpisode,
    Posting,
)
from billing_portal.errors import BalanceOutOfRange
from sharing import bill_run
from sharing.bill_run import import_usage
from sharing.models import UsageRecord
from sharing.services import record_usage

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HEADER = "external_id,account,product,bill_type,usage_start,usage_end,amount,billed_at"


def D(value) -> Decimal:
    return Decimal(value)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def csv_file(rows: list[dict], header: str = HEADER) -> io.StringIO:
    columns = header.split(",")
    lines = [header] + [",".join(str(row.get(c, "")) for c in columns) for row in rows]
    return io.StringIO("\n".join(lines) + "\n")


def usage(external_id, account, amount, hours, **extra) -> dict:
    start = at(hours)
    return {
        "external_id": external_id,
        "account": account.pk,
        "product": "ecs",
        "bill_type": "pay_as_you_go",
        "usage_start": start.isoformat(),
        "usage_end": (start + timedelta(minutes=30)).isoformat(),
        "amount": amount,
        "billed_at": at(100).isoformat(),
        **extra,
    }


def trusteeship(manager, member, start, end=None):
    """A trusteeship period (not money: no ledger rows involved)."""
    return FinancialRelationship.objects.create(
        management_account=manager,
        member_account=member,
        type=FinancialRelationship.Type.TRUSTEESHIP,
        status="active" if end is None else "terminated",
        start=start,
        end=end,
    )


@pytest.fixture
def world(make_account, fund):
    """Two identical sets of accounts: one priced by the bill run, one by the
    per-record path. Each: a manager, a member under a trusteeship during
    hours [2, 5), a plain account with cash and one without."""

    def one_set():
        manager, member = make_account(), make_account()
        plain, broke = make_account(), make_account()
        fund(plain, "30.00")
        trusteeship(manager, member, at(2), at(5))
        return [manager, member, plain, broke]

    return one_set(), one_set()


def workload(accounts, prefix):
    manager, member, plain, broke = accounts
    specs = [
        (member, "1.10", 1),  # before the trusteeship: the member pays
        (member, "2.20", 2),  # at its start: the manager pays
        (member, "3.30", 4.99),
        (member, "4.40", 5),  # at its end: the member again
        (plain, "10.00", 1),
        (plain, "25.00", 3),  # overdue after this one
        (broke, "0.01", 0),
        (manager, "7.77", 6),
        (plain, "0.99", 7),
    ]
    return [
        usage(f"{prefix}-{n}", account, amount, hours)
        for n, (account, amount, hours) in enumerate(specs)
    ]


def ledger_of(accounts):
    """What each account's books and charges look like, account by account."""
    index = {a.pk: i for i, a in enumerate(accounts)}
    out = []
    for account in accounts:
        account.refresh_from_db()
        out.append(
            {
                "balances": (
                    account.own_cash,
                    account.uncleared_amount,
                    account.available_balance,
                ),
                "legs": [
                    (p.book, p.amount, p.balance_after)
                    for p in Posting.objects.filter(
                        holder_type="account", holder_id=account.pk
                    ).order_by("id")
                ],
                "charges": [
                    (c.amount, c.outstanding, c.effective_at, index[c.usage_account_id])
                    for c in Charge.objects.filter(payer_account=account).order_by("id")
                ],
                "overdue": OverdueEpisode.objects.filter(
                    account=account, end__isnull=True
                ).count(),
            }
        )
    return out


def normalised(records, accounts):
    index = {a.pk: i for i, a in enumerate(accounts)}
    return [
        (
            index[r.account_id],
            index[r.payer_id],
            r.amount,
            r.charged_amount,
            r.usage_start,
            r.charge.amount,
            r.charge.movement.amount,
            r.charge.movement.counterparty_id is not None,
        )
        for r in records
    ]


def test_a_bill_run_prices_exactly_as_one_by_one(world, operator, assert_ledger_clean):
    batch_accounts, single_accounts = world
    batch_rows = workload(batch_accounts, "b")
    single_rows = workload(single_accounts, "s")

    result = import_usage(
        csv_file(batch_rows), fmt="csv", source="bill", actor=operator, chunk_size=4
    )
    for row in single_rows:
        record_usage(
            external_id=row["external_id"],
            account=Account.objects.get(pk=row["account"]),
            product=row["product"],
            bill_type=row["bill_type"],
            usage_start=datetime.fromisoformat(row["usage_start"]),
            usage_end=datetime.fromisoformat(row["usage_end"]),
            amount=D(row["amount"]),
            billed_at=datetime.fromisoformat(row["billed_at"]),
            source="single",
            actor=operator,
        )

    assert (result.read, result.priced, result.skipped) == (9, 9, 0)
    assert result.rejected == result.conflicts == []
    assert ledger_of(batch_accounts) == ledger_of(single_accounts)
    batch = UsageRecord.objects.filter(source="bill").order_by("external_id")
    single = UsageRecord.objects.filter(source="single").order_by("external_id")
    assert normalised(batch, batch_accounts) == normalised(single, single_accounts)
    manager, member, plain, _broke = batch_accounts
    assert [r.payer_id for r in batch.filter(account=member)] == [
        member.pk,
        manager.pk,
        manager.pk,
        member.pk,
    ]
    assert plain.uncleared_amount == D("35.99")
    assert OverdueEpisode.objects.filter(account=plain, end__isnull=True).exists()
    assert_ledger_clean()


def test_running_the_same_file_again_prices_nothing(
    world, operator, assert_ledger_clean
):
    accounts = world[0]
    rows = workload(accounts, "b")
    import_usage(csv_file(rows), fmt="csv", source="bill", actor=operator)
    before = (Movement.objects.count(), Posting.objects.count(), ledger_of(accounts))

    again = import_usage(csv_file(rows), fmt="csv", source="bill", actor=operator)

    assert (again.read, again.priced, again.skipped) == (9, 0, 9)
    assert (Movement.objects.count(), Posting.objects.count()) == before[:2]
    assert ledger_of(accounts) == before[2]
    assert_ledger_clean()


def test_bad_lines_are_rejected_with_their_number_and_nothing_of_them_is_written(
    make_account, operator
):
    account = make_account()
    good = usage("ok-1", account, "1.00", 1)
    bad = [
        usage("amount-3dp", account, "1.505", 1),
        usage("amount-negative", account, "-1.00", 1),
        usage("amount-exponent", account, "1e3", 1),
        usage("amount-fullwidth", account, "１２.５０", 1),  # noqa: RUF001
        usage("amount-huge", account, "1" * 14, 1),
        {**usage("no-account", account, "1.00", 1), "account": 999999999},
        {**usage("naive-time", account, "1.00", 1), "usage_start": "2026-11-01T00:00"},
        {
            **usage("impossible-date", account, "1.00", 1),
            "usage_start": "2026-02-30T00:00:00+00:00",
        },
        {**usage("ends-before", account, "1.00", 1), "usage_end": at(0).isoformat()},
        {**usage("bill-type", account, "1.00", 1), "bill_type": "monthly"},
        {**usage("", account, "1.00", 1)},
    ]

    result = import_usage(csv_file([good, *bad]), fmt="csv", source="s")

    assert result.priced == 1
    # Line 1 is the header, line 2 the good record.
    assert [line for line, _why in result.rejected] == list(range(3, 14))
    reasons = dict(result.rejected)
    assert all(reasons[line].startswith("amount:") for line in range(3, 8))
    assert reasons[8].startswith("account:")
    assert reasons[9].startswith("usage_start:")
    assert reasons[10].startswith("usage_start:")
    assert reasons[11].startswith("usage_end:")
    assert reasons[12].startswith("bill_type:")
    assert reasons[13].startswith("external_id:")
    assert list(UsageRecord.objects.values_list("external_id", flat=True)) == ["ok-1"]
    account.refresh_from_db()
    assert account.uncleared_amount == D("1.00")


def test_a_known_id_with_other_content_is_a_conflict_and_repeats_in_the_file_count_once(
    make_account, operator
):
    account = make_account()
    import_usage(csv_file([usage("x-1", account, "1.00", 1)]), fmt="csv", source="s")
    rows = [
        usage("x-1", account, "9.99", 1),  # conflicts with the priced one
        usage("x-2", account, "2.00", 1),
        usage("x-2", account, "2.00", 1),  # same content again: skipped
        usage("x-2", account, "3.00", 1),  # other content: conflict
    ]

    result = import_usage(csv_file(rows), fmt="csv", source="s")

    assert result.conflicts == [(2, "x-1"), (5, "x-2")]
    assert (result.priced, result.skipped) == (1, 1)
    account.refresh_from_db()
    assert account.uncleared_amount == D("3.00")


def test_json_lines_and_account_uids(make_account, operator):
    account = make_account()
    lines = [
        json.dumps({**usage("j-1", account, "1.25", 1), "account": None,
                    "account_uid": account.uid}),
        json.dumps({**usage("j-2", account, 2.5, 2), "quantity": 1.5}),
        "not json",
    ]  # fmt: skip

    result = import_usage(io.StringIO("\n".join(lines)), fmt="jsonl", source="j")

    assert result.priced == 2
    assert [line for line, _ in result.rejected] == [3]
    assert UsageRecord.objects.get(external_id="j-2").quantity == D("1.5")
    account.refresh_from_db()
    assert account.uncleared_amount == D("3.75")


def test_an_unknown_column_is_refused_before_anything_is_read(make_account):
    with pytest.raises(bill_run.ImportFileError, match="unknown columns"):
        import_usage(csv_file([], header=HEADER + ",colour"), fmt="csv", source="s")


@pytest.mark.django_db(transaction=True)
def test_a_crash_loses_only_the_chunk_in_flight_and_a_rerun_completes(
    make_account, fund, operator, monkeypatch, assert_ledger_clean
):
    accounts = [make_account() for _ in range(3)]
    rows = [usage(f"c-{n}", accounts[n % 3], "1.00", n) for n in range(10)]
    calls = []
    real = bill_run.charge_usage_batch

    def crash_on_the_third_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(**kwargs)

    monkeypatch.setattr(bill_run, "charge_usage_batch", crash_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        import_usage(csv_file(rows), fmt="csv", source="c", chunk_size=3)
    assert UsageRecord.objects.count() == 6
    assert Charge.objects.count() == 6

    monkeypatch.setattr(bill_run, "charge_usage_batch", real)
    result = import_usage(csv_file(rows), fmt="csv", source="c", chunk_size=3)

    assert (result.priced, result.skipped) == (4, 6)
    assert UsageRecord.objects.count() == Charge.objects.count() == 10
    assert sum(a.uncleared_amount for a in Account.objects.all()) == D("10.00")
    assert_ledger_clean()
    connections.close_all()


def test_the_command_reads_a_file_and_reports(tmp_path, make_account, capsys):
    account = make_account()
    path = tmp_path / "run.csv"
    path.write_text(
        csv_file(
            [usage("f-1", account, "1.00", 1), usage("f-2", account, "x", 1)]
        ).getvalue(),
        encoding="utf-8",
    )

    call_command("import_usage", str(path), "--no-progress")

    out, err = capsys.readouterr()
    assert "2 read, 1 priced, 0 already priced, 0 conflicts, 1 rejected" in out
    assert "line 3: rejected: amount:" in err


def test_a_chunk_that_would_take_a_balance_out_of_range_is_refused_whole(
    make_account, operator, ledger_snapshot
):
    account = make_account()
    rows = [
        usage("big-1", account, "9999999999999.99", 1),
        usage("big-2", account, "0.01", 2),
    ]
    before = ledger_snapshot()

    with pytest.raises(BalanceOutOfRange) as refused:
        import_usage(csv_file(rows), fmt="csv", source="big")

    assert refused.value.reasons[0].code == "balance_out_of_range"
    assert account.uid in refused.value.reasons[0].message
    assert ledger_snapshot() == before
    assert not UsageRecord.objects.exists()


def test_the_command_reports_a_refused_chunk(tmp_path, make_account, capsys):
    account = make_account()
    path = tmp_path / "big.csv"
    path.write_text(
        csv_file(
            [
                usage("big-1", account, "9999999999999.99", 1),
                usage("big-2", account, "0.01", 2),
            ]
        ).getvalue(),
        encoding="utf-8",
    )

    with pytest.raises(CommandError, match="balance_out_of_range"):
        call_command("import_usage", str(path), "--no-progress")
