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
from sharing import bill_run, deduction
from sharing.bill_run import import_usage
from sharing.models import Asset, AssetHour, Deduction, SharePeriod, UsageRecord
from sharing.services import record_usage, share_with_accounts
from tests.sharing.conftest import HOUR

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


# --- benefits in play: the deduction engine, set-wise ---------------------------------

RI_MATCH = {"instance_type": "ecs.g7.large", "region": "cn-hangzhou"}
BENEFIT_HEADER = HEADER + ",instance_type,region,quantity"


@pytest.fixture
def benefit_world(make_account, owner, grant, provision):
    """A set of accounts and assets: O owns a reserved instance (2 per hour), an
    SCU package ``pool`` (8.00, shared with R from minute 30 of HOUR), a savings
    plan (10.00 per hour, shared with R a day before) and a coupon for
    subscriptions (50.00); M, a trusteeship member of G, owns an SCU package
    (6.00); P has nothing."""

    def make():
        o, r, m, g, p = (make_account() for _ in range(5))
        grant(owner, o, "owner")
        trusteeship(g, m, HOUR - timedelta(days=5))
        ri = provision("reserved_instance", o, count=2, **RI_MATCH)
        pool = provision("scu_package", o, capacity="8.00")
        plan = provision("savings_plan", o, commitment_per_hour="10.00")
        coupon = provision("coupon", o, capacity="50.00", bill_types=["subscription"])
        own_scu = provision("scu_package", m, capacity="6.00")
        share_with_accounts(asset=plan, accounts=[r], actor=owner)
        share_with_accounts(asset=pool, accounts=[r], actor=owner)
        SharePeriod.objects.filter(asset=plan).update(start=HOUR - timedelta(days=1))
        SharePeriod.objects.filter(asset=pool).update(
            start=HOUR + timedelta(minutes=30)
        )
        return [o, r, m, g, p], [ri, pool, plan, coupon, own_scu]

    return make


def benefit_rows(accounts, prefix) -> list[dict]:
    """Not in usage-start order on purpose: the run prices by usage start."""
    o, r, m, _g, p = accounts
    ri = {**RI_MATCH}
    specs = [
        # (account, amount, minutes after HOUR, extra)
        (o, "2.00", 45, {}),  # everything used up or not covering: charged
        (r, "3.00", 10, {}),  # pool: before its share began; the plan: 3
        (o, "6.00", 5, {}),  # pool 6 (own SCU first)
        (o, "9.00", 15, {**ri, "quantity": "3"}),  # RI 2 of 3 hours: 6, pool 2
        (m, "4.00", 20, {}),  # own SCU 4; G pays
        (p, "7.00", 30, {}),  # no benefit: the pure-SQL path
        (r, "4.00", 35, {}),  # pool used up; the plan 4
        (o, "9.00", 40, {"bill_type": "subscription"}),  # plan 2 (hour gone), coupon 7
        (m, "5.00", 25, {}),  # own SCU 2: used up; G pays 3
        (o, "3.00", 50, {**ri, "quantity": "1"}),  # RI hour used up
        (r, "2.00", -26 * 60, {}),  # before both shares began
        (o, "12.00", 65, {}),  # the next hour: plan 10
        (p, "1.00", 5, {}),
    ]
    rows = []
    for n, (account, amount, minutes, extra) in enumerate(specs):
        start = HOUR + timedelta(minutes=minutes)
        rows.append(
            {
                "external_id": f"{prefix}-{n}",
                "account": account.pk,
                "product": "ecs",
                "bill_type": extra.pop("bill_type", "pay_as_you_go"),
                "usage_start": start.isoformat(),
                "usage_end": (start + timedelta(minutes=10)).isoformat(),
                "amount": amount,
                "billed_at": (HOUR + timedelta(days=1)).isoformat(),
                **extra,
            }
        )
    return rows


def price_one_by_one(rows, *, source, actor):
    """record_usage for each row, in the bill run's order (usage start, line)."""
    ordered = sorted(enumerate(rows), key=lambda r: (r[1]["usage_start"], r[0]))
    for _n, row in ordered:
        record_usage(
            external_id=row["external_id"],
            account=Account.objects.get(pk=row["account"]),
            product=row["product"],
            bill_type=row["bill_type"],
            usage_start=datetime.fromisoformat(row["usage_start"]),
            usage_end=datetime.fromisoformat(row["usage_end"]),
            amount=D(row["amount"]),
            billed_at=datetime.fromisoformat(row["billed_at"]),
            instance_type=row.get("instance_type", ""),
            region=row.get("region", ""),
            quantity=D(row["quantity"]) if row.get("quantity") else None,
            source=source,
            actor=actor,
        )


def everything(accounts, assets, source):
    """Every row a pricing writes for this world, as full tuples, with ids
    replaced by positions in the world (and records by their line)."""
    account_ix = {a.pk: i for i, a in enumerate(accounts)}
    asset_ix = {a.pk: i for i, a in enumerate(assets)}
    records = UsageRecord.objects.filter(source=source).select_related(
        "charge__movement"
    )
    line = {r.pk: int(r.external_id.rsplit("-", 1)[1]) for r in records}
    hours = {
        h.pk: (asset_ix[h.asset_id], h.hour)
        for h in AssetHour.objects.filter(asset__in=assets)
    }

    def holder(p):
        if p.holder_type == "account":
            return ("account", account_ix[p.holder_id])
        if p.holder_type == "asset":
            return ("asset", asset_ix[p.holder_id])
        if p.holder_type == "asset_hour":
            return ("asset_hour", hours[p.holder_id])
        return (p.holder_type, p.holder_id)

    def legs(movement):
        return [
            (*holder(p), p.book, p.amount, p.balance_after)
            for p in movement.postings.order_by("id")
        ]

    def skipped(record):
        return [(asset_ix[s["asset"]], s["reason"]) for s in record.skipped]

    usage = sorted(
        (
            line[r.pk],
            account_ix[r.account_id],
            account_ix[r.payer_id],
            r.amount,
            r.charged_amount,
            r.charge.amount,
            r.charge.outstanding,
            account_ix[r.charge.payer_account_id],
            skipped(r),
            r.charge.movement.amount,
            r.charge.movement.effective_at,
            legs(r.charge.movement),
        )
        for r in records
    )
    # In the order they were written: the order of the decisions.
    deductions = [
        (
            line[d.usage_id],
            d.position,
            asset_ix[d.asset_id],
            account_ix[d.owner_id],
            account_ix[d.beneficiary_id],
            d.amount,
            d.capacity_before,
            d.capacity_after,
            hours.get(d.hour_id),
            d.units,
            d.usage_start,
        )
        for d in Deduction.objects.filter(usage__source=source).order_by("id")
    ]
    asset_rows = [
        (
            asset_ix[a.pk],
            a.status,
            a.remaining,
            [
                (p.book, p.amount, p.balance_after)
                for p in Posting.objects.filter(
                    holder_type="asset", holder_id=a.pk
                ).order_by("id")
            ],
        )
        for a in Asset.objects.filter(pk__in=[a.pk for a in assets]).order_by("pk")
    ]
    buckets = sorted(
        (
            hours[h.pk],
            h.drawn,
            h.cap,
            h.units_used,
            h.unit_cap,
            [
                (p.amount, p.balance_after)
                for p in Posting.objects.filter(
                    holder_type="asset_hour", holder_id=h.pk
                ).order_by("id")
            ],
        )
        for h in AssetHour.objects.filter(asset__in=assets)
    )
    return {
        "usage": usage,
        "deductions": deductions,
        "assets": asset_rows,
        "hours": buckets,
        "accounts": ledger_of(accounts),
    }


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_benefits_a_bill_run_deducts_exactly_as_one_by_one(
    benefit_world, operator, assert_ledger_clean, chunk_size
):
    """Whatever the chunk size: capacities carry from record to record within
    a chunk and from chunk to chunk."""
    batch_accounts, batch_assets = benefit_world()
    single_accounts, single_assets = benefit_world()
    batch_rows = benefit_rows(batch_accounts, "b")

    result = import_usage(
        csv_file(batch_rows, header=BENEFIT_HEADER),
        fmt="csv",
        source="bill",
        actor=operator,
        chunk_size=chunk_size,
    )
    price_one_by_one(
        benefit_rows(single_accounts, "s"), source="single", actor=operator
    )

    assert (result.priced, result.rejected, result.conflicts) == (13, [], [])
    batch = everything(batch_accounts, batch_assets, "bill")
    single = everything(single_accounts, single_assets, "single")
    for part in ("usage", "deductions", "assets", "hours", "accounts"):
        assert batch[part] == single[part], part
    # The workload did what it says: every kind of asset deducted, used up.
    _ri, pool, plan, coupon, own_scu = range(5)
    charged = {u[0]: u[4] for u in batch["usage"]}
    assert charged == {
        0: D("2.00"), 1: D("0.00"), 2: D("0.00"), 3: D("0.00"), 4: D("0.00"),
        5: D("7.00"), 6: D("0.00"), 7: D("0.00"), 8: D("3.00"), 9: D("3.00"),
        10: D("2.00"), 11: D("2.00"), 12: D("1.00"),
    }  # fmt: skip
    by_asset = {}
    for d in batch["deductions"]:
        by_asset.setdefault(d[2], []).append((d[0], d[5]))
    assert by_asset == {
        0: [(3, D("6.00"))],
        pool: [(2, D("6.00")), (3, D("2.00"))],
        plan: [(1, D("3.00")), (3, D("1.00")), (6, D("4.00")), (7, D("2.00")),
               (11, D("10.00"))],
        coupon: [(7, D("7.00"))],
        own_scu: [(4, D("4.00")), (8, D("2.00"))],
    }  # fmt: skip
    skipped = {u[0]: u[8] for u in batch["usage"]}
    assert (pool, "before_share_start") in skipped[1]
    assert (pool, "capacity_used_up") in skipped[6]
    assert (plan, "hour_used_up") in skipped[0]
    assert (0, "hour_used_up") in skipped[9]
    assert (coupon, "bill_type_not_covered") in skipped[0]
    assert skipped[10] == [(pool, "before_share_start"), (plan, "before_share_start")]
    assert skipped[5] == skipped[12] == []
    statuses = {a[0]: (a[1], a[2]) for a in batch["assets"]}
    assert statuses[pool] == ("exhausted", D("0.00"))
    assert statuses[own_scu] == ("exhausted", D("0.00"))
    assert statuses[coupon] == ("active", D("43.00"))
    assert [(h[0][0], h[1], h[3]) for h in batch["hours"]] == [
        (0, D("6.00"), D("2")),  # the RI's hour: two instance-hours
        (plan, D("10.00"), D("0")),  # used up by line 7
        (plan, D("10.00"), D("0")),  # the next hour
    ]
    payers = {u[0]: u[2] for u in batch["usage"]}
    assert payers[4] == payers[8] == 3  # G pays for M
    assert_ledger_clean()


def test_benefits_running_the_file_again_consumes_nothing(
    benefit_world, operator, assert_ledger_clean
):
    accounts, assets = benefit_world()
    rows = benefit_rows(accounts, "b")
    import_usage(csv_file(rows, header=BENEFIT_HEADER), fmt="csv", source="bill")
    before = everything(accounts, assets, "bill")
    counts = (Movement.objects.count(), Posting.objects.count())

    again = import_usage(
        csv_file(rows, header=BENEFIT_HEADER), fmt="csv", source="bill", chunk_size=4
    )

    assert (again.priced, again.skipped) == (0, 13)
    assert everything(accounts, assets, "bill") == before
    assert (Movement.objects.count(), Posting.objects.count()) == counts
    assert_ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_benefits_a_crash_loses_only_the_chunk_in_flight_and_a_rerun_is_identical(
    benefit_world, operator, monkeypatch, assert_ledger_clean
):
    crashed_accounts, crashed_assets = benefit_world()
    single_accounts, single_assets = benefit_world()
    rows = benefit_rows(crashed_accounts, "c")
    calls = []
    real = bill_run.charge_usage_batch

    def crash_on_the_third_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(**kwargs)

    monkeypatch.setattr(bill_run, "charge_usage_batch", crash_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        import_usage(
            csv_file(rows, header=BENEFIT_HEADER), fmt="csv", source="c", chunk_size=4
        )
    # Two chunks committed; the third (its deductions too) rolled back.
    assert UsageRecord.objects.filter(source="c").count() == 8
    # The first 8 by usage start (lines 10, 2, 12, 1, 3, 4, 8, 5) and their
    # 7 deductions.
    assert Deduction.objects.filter(usage__source="c").count() == 7
    assert_ledger_clean()

    monkeypatch.setattr(bill_run, "charge_usage_batch", real)
    result = import_usage(
        csv_file(rows, header=BENEFIT_HEADER), fmt="csv", source="c", chunk_size=4
    )
    price_one_by_one(benefit_rows(single_accounts, "s"), source="single", actor=None)

    assert (result.priced, result.skipped) == (5, 8)
    assert everything(crashed_accounts, crashed_assets, "c") == everything(
        single_accounts, single_assets, "single"
    )
    assert_ledger_clean()
    connections.close_all()


def no_benefit_for_bills_a_week_late(asset, usage):
    """An extra deduction rule (as another app would configure): reads a field
    that pricing itself never reads."""
    if usage.billed_at - usage.usage_start > timedelta(days=7):
        return "billed_too_late"
    return None


@pytest.fixture
def late_bill_rule(settings):
    settings.SHARING_DEDUCTION_RULES = [
        "tests.sharing.test_bill_run.no_benefit_for_bills_a_week_late"
    ]
    deduction.extra_rules.cache_clear()
    yield
    deduction.extra_rules.cache_clear()


def test_benefits_extra_rules_apply_to_a_bill_run_as_to_one_record(
    benefit_world, operator, late_bill_rule, assert_ledger_clean
):
    batch_accounts, batch_assets = benefit_world()
    single_accounts, single_assets = benefit_world()

    def rows(accounts, prefix):
        out = benefit_rows(accounts, prefix)
        for row in out[::2]:
            row["billed_at"] = (HOUR + timedelta(days=30)).isoformat()
        return out

    import_usage(
        csv_file(rows(batch_accounts, "b"), header=BENEFIT_HEADER),
        fmt="csv",
        source="bill",
        chunk_size=4,
    )
    price_one_by_one(rows(single_accounts, "s"), source="single", actor=operator)

    batch = everything(batch_accounts, batch_assets, "bill")
    assert batch == everything(single_accounts, single_assets, "single")
    reasons = {reason for u in batch["usage"] for _asset, reason in u[8]}
    assert "billed_too_late" in reasons
    assert_ledger_clean()
