"""The ledger in the admin: read-only for everyone, scoped like everything else."""

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing_portal import roles
from billing_portal.admin_base import (
    CappedCountPaginator,
    CsvExportMixin,
    ReadOnlyAdmin,
    ScopedAdmin,
    text_cell,
)
from billing_portal.money import format_amount

from .. import selectors
from ..ledger import account_books, book_label, holder_type_of_name, natural_change
from ..models import (
    Account,
    Charge,
    Movement,
    OverdueEpisode,
    Posting,
    TransferPair,
)


class VisibleAccountFilter(admin.SimpleListFilter):
    """Filter by one of the accounts the user may see (never others)."""

    title = _("account")
    parameter_name = "account"
    field = "holder_id"

    def lookups(self, request, model_admin):
        accounts = selectors.list_visible_accounts(request.user).order_by("uid")
        return [(a.pk, f"{a.name} ({a.uid})") for a in accounts[:500]]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(**{self.field: int(self.value())})
        return queryset


class BookFilter(admin.SimpleListFilter):
    """An account's books, from the ledger's registry (fixed choices: no
    ``DISTINCT`` over every ledger line to build the list)."""

    title = _("book")
    parameter_name = "book"

    def lookups(self, request, model_admin):
        return [(book, book_label("account", book)) for book in account_books()]

    def queryset(self, request, queryset):
        if self.value() in account_books():
            return queryset.filter(book=self.value())
        return queryset


class MovementAccountFilter(VisibleAccountFilter):
    field = "account"

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            pk = int(self.value())
            return queryset.filter(account=pk) | queryset.filter(counterparty=pk)
        return queryset


def _account_of_posting():
    accounts = Account.objects.filter(pk=OuterRef("holder_id"))
    return {
        "account_uid": Subquery(accounts.values("uid")[:1]),
        "account_name": Subquery(accounts.values("name")[:1]),
    }


def _change(posting) -> str:
    return format_amount(natural_change(posting))


def _other_side(posting) -> Account | None:
    """The account on the other side of the line's movement (the account
    page's "With" column): the counterparty, or the movement's account when
    the line is the counterparty's own; none for a top-up or a charge."""
    movement = posting.movement
    if not movement.counterparty_id:
        return None
    if movement.counterparty_id != posting.holder_id:
        return movement.counterparty
    return movement.account


def _other_side_label(posting) -> str:
    other = _other_side(posting)
    return f"{other.name} ({other.uid})" if other else ""


@admin.register(Posting)
class LedgerLineAdmin(CsvExportMixin, ScopedAdmin):
    """Ledger lines of the accounts the user may see; filters and CSV export."""

    list_display = [
        "posted_at",
        "account",
        "kind",
        "with_account",
        "book_name",
        "change",
        "balance",
        "currency",
        "movement_link",
    ]
    # A line's own page reads like its row in the list: the holder's name, the
    # book's label and the change with the sign the holder sees (never the
    # raw holder id or the debit-positive amount of the double entry).
    fields = [
        "posted_at",
        "account",
        "kind",
        "with_account",
        "book_name",
        "change",
        "balance",
        "currency",
        "movement_link",
    ]
    readonly_fields = fields
    list_filter = [VisibleAccountFilter, "movement__kind", BookFilter, "currency"]
    paginator = CappedCountPaginator
    date_hierarchy = "movement__posted_at"
    ordering = ["-id"]
    change_list_template = "admin/accounts/posting/change_list.html"
    change_form_template = "admin/accounts/posting/change_form.html"
    csv_filename = "ledger.csv"
    # For spreadsheets: UTF-8 with its byte order mark (Chinese names open
    # right in Excel), 16-digit uids as text (not rounded to 15 digits).
    csv_bom = True
    csv_fields = [
        ("posted_at", lambda p: p.movement.posted_at.isoformat()),
        ("effective_at", lambda p: p.movement.effective_at.isoformat()),
        ("account_uid", lambda p: text_cell(p.account_uid)),
        ("account_name", lambda p: p.account_name),
        ("movement", lambda p: p.movement_id),
        ("kind", lambda p: p.movement.kind),
        ("book", lambda p: p.book),
        ("change", _change),
        ("balance_after", lambda p: format_amount(p.balance_after)),
        ("currency", lambda p: p.currency),
        # Last, so the columns before keep their places in existing sheets.
        (
            "counterparty_uid",
            lambda p: text_cell(o.uid) if (o := _other_side(p)) else "",
        ),
        ("counterparty_name", lambda p: o.name if (o := _other_side(p)) else ""),
    ]

    def scope(self, user):
        visible = selectors.list_visible_accounts(user).values("pk")
        return (
            Posting.objects.filter(holder_type="account", holder_id__in=visible)
            .select_related("movement__account", "movement__counterparty")
            .annotate(**_account_of_posting())
        )

    @admin.display(description=_("Posted at"), ordering="movement__posted_at")
    def posted_at(self, obj):
        return obj.movement.posted_at

    @admin.display(description=_("Account"))
    def account(self, obj):
        return f"{obj.account_name} ({obj.account_uid})"

    @admin.display(description=_("Movement"))
    def kind(self, obj):
        return obj.movement.get_kind_display()

    @admin.display(description=_("With"))
    def with_account(self, obj):
        return _other_side_label(obj)

    @admin.display(description=_("Book"), ordering="book")
    def book_name(self, obj):
        return book_label(obj.holder_type, obj.book)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        line = self.get_object(request, object_id)
        if line is not None:
            extra_context = {
                **(extra_context or {}),
                "subtitle": f"{line.movement.get_kind_display()} "
                f"#{line.movement_id} · {book_label(line.holder_type, line.book)} "
                f"{_change(line)}",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(
        description=pgettext_lazy("signed amount of a ledger line", "Change")
    )
    def change(self, obj):
        return _change(obj)

    @admin.display(description=_("Balance after"))
    def balance(self, obj):
        return format_amount(obj.balance_after)

    @admin.display(description=_("Movement #"))
    def movement_link(self, obj):
        return obj.movement_id


class PostingInline(admin.TabularInline):
    model = Posting
    # Each leg as its holder reads it: who, which book, the signed change.
    fields = ["holder", "book_name", "change", "balance_after", "currency"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Holder"))
    def holder(self, obj):
        if obj.holder_type == "provider":
            return _("The provider")
        holder = (
            holder_type_of_name(obj.holder_type)
            .row_model.objects.filter(pk=obj.holder_id)
            .first()
        )
        if holder is None:
            return f"#{obj.holder_id}"
        if obj.holder_type == "pair":
            return f"{holder.source} → {holder.destination}"
        return str(holder)

    @admin.display(description=_("Book"))
    def book_name(self, obj):
        return book_label(obj.holder_type, obj.book)

    @admin.display(
        description=pgettext_lazy("signed amount of a ledger line", "Change")
    )
    def change(self, obj):
        return _change(obj)

    def has_view_permission(self, request, obj=None):
        # The legs show other accounts' balances: operators only.
        return roles.is_operator(request.user)


@admin.register(Movement)
class MovementAdmin(ScopedAdmin):
    list_display = [
        "id",
        "kind",
        "account",
        "counterparty",
        "amount",
        "currency",
        "effective_at",
        "posted_at",
        "actor",
    ]
    list_filter = ["kind", MovementAccountFilter, "currency"]
    paginator = CappedCountPaginator
    list_select_related = ["account", "counterparty", "actor"]
    date_hierarchy = "posted_at"
    # Newest first by id, the ledger's own order (the ledger lines' too): an
    # index walk, where ``-posted_at`` sorted every movement (no index on it).
    ordering = ["-id"]
    fields = [
        "kind",
        "account",
        "counterparty",
        "amount",
        "currency",
        "effective_at",
        "posted_at",
        "actor",
        "memo",
        "reverses",
    ]
    readonly_fields = fields
    inlines = [PostingInline]

    def scope(self, user):
        return selectors.list_visible_movements(user)

    def get_inlines(self, request, obj):
        return self.inlines if roles.is_operator(request.user) else []


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "usage_account",
        "payer_account",
        "amount",
        "outstanding",
        "effective_at",
    ]
    list_select_related = ["usage_account", "payer_account"]
    ordering = ["-id"]


@admin.register(TransferPair)
class TransferPairAdmin(ReadOnlyAdmin):
    list_display = ["source", "destination", "remaining_revocable", "currency"]
    list_select_related = ["source", "destination"]
    ordering = ["id"]


@admin.register(OverdueEpisode)
class OverdueEpisodeAdmin(ReadOnlyAdmin):
    list_display = ["account", "start", "end"]
    list_select_related = ["account"]
    ordering = ["-start"]
