"""Financial relationships and the resource directory in the admin."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from billing_portal.actions import action
from billing_portal.admin_base import ScopedAdmin
from billing_portal.errors import DomainError
from billing_portal.text import DisplayNameField

from .. import selectors, services
from ..models import Account, FinancialRelationship, Folder
from ..models.structure import RelationshipPermission

Status = FinancialRelationship.Status

# Each action: (service, who may (label), confirmation sentence, done message).
RELATIONSHIP_ACTIONS = {
    "confirm": (
        services.confirm_relationship,
        _("Confirm"),
        _("Confirm this relationship? It becomes active at this instant."),
        _("The relationship is active."),
    ),
    "reject": (
        services.reject_relationship,
        _("Reject"),
        _("Reject this invitation?"),
        _("The invitation was rejected."),
    ),
    "cancel": (
        services.cancel_relationship,
        _("Cancel invitation"),
        _("Withdraw this invitation?"),
        _("The invitation was cancelled."),
    ),
    "terminate": (
        services.terminate_relationship,
        _("Terminate"),
        _(
            "End this relationship now? Usage from this instant on is no longer "
            "covered by it; earlier periods are kept."
        ),
        _("The relationship was terminated."),
    ),
}


class InviteForm(forms.Form):
    management_account = forms.ModelChoiceField(queryset=Account.objects.none())
    member_account = forms.ModelChoiceField(queryset=Account.objects.none())
    type = forms.ChoiceField(choices=FinancialRelationship.Type.choices)
    permissions = forms.MultipleChoiceField(
        choices=RelationshipPermission.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["management_account"].queryset = selectors.list_inviting_accounts(
            user
        )
        self.fields["member_account"].queryset = selectors.list_target_accounts(user)


class PermissionsForm(forms.Form):
    permissions = forms.MultipleChoiceField(
        choices=RelationshipPermission.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


@admin.register(FinancialRelationship)
class FinancialRelationshipAdmin(ScopedAdmin):
    list_display = [
        "id",
        "management_account",
        "member_account",
        "type",
        "status",
        "start",
        "end",
        "permission_codes",
    ]
    list_filter = ["status", "type"]
    list_select_related = ["management_account", "member_account"]
    ordering = ["-invited_at", "-id"]
    fields = [
        "management_account",
        "member_account",
        "type",
        "status",
        "permission_codes",
        "start",
        "end",
        "invited_at",
        "invited_by",
        "responded_at",
        "responded_by",
        "ended_by",
    ]
    readonly_fields = fields
    change_form_template = "admin/accounts/financialrelationship/change_form.html"
    change_list_template = "admin/accounts/financialrelationship/change_list.html"

    def scope(self, user):
        return selectors.list_visible_relationships(user)

    @admin.display(description=_("Permissions"))
    def permission_codes(self, obj):
        """Each permission by its sentence, never its code."""
        labels = dict(RelationshipPermission.choices)
        if not obj.permissions:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "", "<li>{}</li>", ((labels.get(c, c),) for c in obj.permissions)
            ),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "invite/",
                view(self.invite_view),
                name="accounts_financialrelationship_invite",
            ),
            path(
                "<path:object_id>/permissions/",
                view(self.permissions_view),
                name="accounts_financialrelationship_permissions",
            ),
            # Only the four actions: "<id>/change/" and "<id>/history/" must
            # still reach the admin's own views below.
            re_path(
                rf"^(?P<object_id>.+)/(?P<action>{'|'.join(RELATIONSHIP_ACTIONS)})/$",
                view(self.action_view),
                name="accounts_financialrelationship_action",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            # Only the administrators of a management account send invitations.
            "can_invite": selectors.list_inviting_accounts(request.user).exists(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context["relationship_actions"] = self._available_actions(
                request, obj
            )
            extra_context["can_edit_permissions"] = obj.status in (
                Status.PENDING,
                Status.ACTIVE,
            ) and selectors.can_manage(request.user, obj.management_account)
            extra_context["permission_choices"] = RelationshipPermission.choices
        return super().change_view(request, object_id, form_url, extra_context)

    def _may(self, user, obj, action) -> bool:
        """Whether the user's role allows the action, whatever the status."""
        if action in ("confirm", "reject"):
            return selectors.can_answer_invitation(user, obj.member_account)
        return selectors.can_manage(user, obj.management_account)

    def _available_actions(self, request, obj):
        """The buttons for the relationship's status: for whoever may act,
        disabled while a rule refuses it (an overdue member cannot enter a
        trusteeship); the member's other administrators see "Confirm" and
        "Reject" greyed with the service's sentence (only its owner answers);
        anyone else sees none."""
        user = request.user
        actions = []
        for name in RELATIONSHIP_ACTIONS:
            if selectors.relationship_state_refusals(obj, name):
                continue  # not for this status: the page shows the status
            if self._may(user, obj, name):
                reasons = (
                    selectors.relationship_confirmation_refusals(obj)
                    if name == "confirm"
                    else []
                )
            elif name in ("confirm", "reject") and selectors.can_manage(
                user, obj.member_account
            ):
                reasons = selectors.answer_permission_refusals(user, obj.member_account)
            else:
                continue
            actions.append(
                action(
                    RELATIONSHIP_ACTIONS[name][1],
                    reverse(
                        "admin:accounts_financialrelationship_action",
                        args=[obj.pk, name],
                    ),
                    reasons,
                )
            )
        return actions

    def _page(self, request, template, title, **context):
        return TemplateResponse(
            request,
            f"admin/accounts/financialrelationship/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                **context,
            },
        )

    def action_view(self, request, object_id, action):
        obj = self.get_object(request, object_id)
        if obj is None or action not in RELATIONSHIP_ACTIONS:
            return self.does_not_exist(request, object_id)
        service, label, question, done = RELATIONSHIP_ACTIONS[action]
        # No right: 403. A wrong state is the service's invalid_state refusal.
        if not self._may(request.user, obj, action):
            raise PermissionDenied
        return self.confirmation_view(
            request,
            obj=obj,
            act=lambda d: service(relationship=obj, actor=request.user),
            done=lambda _result, d: done,
            redirect_to=reverse(
                "admin:accounts_financialrelationship_change", args=[obj.pk]
            ),
            title=label,
            review_template="admin/accounts/financialrelationship/action_confirm.html",
            context={
                "relationship": obj,
                "question": question,
                "action": action,
                "label": label,
            },
        )

    def permissions_view(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            return self.does_not_exist(request, object_id)
        if not selectors.can_manage(request.user, obj.management_account):
            raise PermissionDenied
        # Bound on every POST: unticking every code is a valid answer.
        form = PermissionsForm(
            request.POST if request.method == "POST" else None,
            initial={"permissions": obj.permissions},
        )
        refusal = None
        if request.method == "POST" and form.is_valid():
            try:
                services.set_relationship_permissions(
                    relationship=obj,
                    permissions=form.cleaned_data["permissions"],
                    actor=request.user,
                )
            except DomainError as err:
                refusal = err
            else:
                self.log_change(request, obj, "Changed permissions.")
                self.message_user(request, _("Permissions saved."), messages.SUCCESS)
                return redirect("admin:accounts_financialrelationship_change", obj.pk)
        return self._page(
            request,
            "permissions_form.html",
            _("Permissions"),
            relationship=obj,
            form=form,
            refusal=refusal,
        )

    def invite_view(self, request):
        form = InviteForm(request.POST or None, user=request.user)
        refusal = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                relationship = services.invite_member(actor=request.user, **data)
            except DomainError as err:
                refusal = err
            else:
                self.log_addition(request, relationship, "Invited member.")
                self.message_user(
                    request,
                    _(
                        "Invitation sent; it is pending until the "
                        "member's owner confirms it."
                    ),
                    messages.SUCCESS,
                )
                return redirect(
                    "admin:accounts_financialrelationship_change", relationship.pk
                )
        return self._page(
            request,
            "invite_form.html",
            _("Invite a member account"),
            form=form,
            refusal=refusal,
            can_invite=form.fields["management_account"].queryset.exists(),
        )


class FolderForm(forms.Form):
    name = DisplayNameField(max_length=100)
    parent = forms.ModelChoiceField(
        queryset=Folder.objects.none(),
        required=False,
        help_text=_("Empty: directly under the root."),
    )


class PlaceAccountsForm(forms.Form):
    accounts = forms.ModelMultipleChoiceField(
        queryset=Account.objects.none(), widget=forms.CheckboxSelectMultiple
    )


@admin.register(Folder)
class FolderAdmin(ScopedAdmin):
    """The resource directory: one tree per company, with account counts."""

    change_list_template = "admin/accounts/folder/tree.html"
    list_display = ["name", "company", "depth"]

    def scope(self, user):
        return selectors.list_visible_folders(user)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "company/<int:company_id>/add/",
                view(self.add_folder_view),
                name="accounts_folder_add_to",
            ),
            path(
                "<path:object_id>/accounts/",
                view(self.place_view),
                name="accounts_folder_place",
            ),
            path(
                "<path:object_id>/remove/",
                view(self.delete_folder_view),
                name="accounts_folder_remove",
            ),
            path(
                "<path:object_id>/move/",
                view(self.move_view),
                name="accounts_folder_move",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        companies = selectors.list_visible_companies(request.user).order_by("name")
        trees = []
        for company in companies:
            can_manage = selectors.can_manage_directory(request.user, company)
            rows = selectors.get_folder_tree(company)
            for row in rows:
                # Deleting: offered on every folder but the root, greyed with
                # the service's reason while the folder holds something.
                row["delete"] = (
                    action(
                        _("delete"),
                        reverse(
                            "admin:accounts_folder_remove", args=[row["folder"].pk]
                        ),
                        selectors.folder_delete_refusals(
                            row["folder"],
                            subfolders=row["subfolders"],
                            accounts=row["accounts"],
                        ),
                    )
                    if can_manage and row["depth"]
                    else None
                )
            trees.append({"company": company, "rows": rows, "can_manage": can_manage})
        return TemplateResponse(
            request,
            self.change_list_template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Resource directory"),
                "trees": trees,
            },
        )

    def _page(self, request, title, **context):
        return TemplateResponse(
            request,
            "admin/accounts/folder/form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                **context,
            },
        )

    def _done(self, request, message):
        self.message_user(request, message, messages.SUCCESS)
        return redirect(reverse("admin:accounts_folder_changelist"))

    def add_folder_view(self, request, company_id):
        company = (
            selectors.list_visible_companies(request.user).filter(pk=company_id).first()
        )
        if company is None:
            return self.does_not_exist(request, company_id)
        if not selectors.can_manage_directory(request.user, company):
            raise PermissionDenied
        form = FolderForm(request.POST or None)
        form.fields["parent"].queryset = Folder.objects.filter(company=company)
        refusal = None
        if request.method == "POST" and form.is_valid():
            try:
                folder = services.create_folder(
                    company=company, actor=request.user, **form.cleaned_data
                )
            except DomainError as err:
                refusal = err
            else:
                self.log_addition(request, folder, "Created folder.")
                return self._done(request, _("Folder created."))
        return self._page(
            request,
            _("New folder in %(company)s") % {"company": company},
            form=form,
            refusal=refusal,
            submit=_("Create folder"),
        )

    def _managed_folder(self, request, object_id):
        folder = self.get_object(request, object_id)
        if folder is not None and not selectors.can_manage_directory(
            request.user, folder.company
        ):
            raise PermissionDenied
        return folder

    def place_view(self, request, object_id):
        folder = self._managed_folder(request, object_id)
        if folder is None:
            return self.does_not_exist(request, object_id)
        form = PlaceAccountsForm(request.POST or None)
        form.fields["accounts"].queryset = Account.objects.filter(
            company=folder.company
        )
        form.fields["accounts"].label_from_instance = lambda a: (
            f"{a.name} ({a.uid}) — now in {a.folder or '—'}"
        )
        refusal = None
        if request.method == "POST" and form.is_valid():
            try:
                services.place_accounts(
                    folder=folder,
                    accounts=list(form.cleaned_data["accounts"]),
                    actor=request.user,
                )
            except DomainError as err:
                refusal = err
            else:
                self.log_change(request, folder, "Placed accounts.")
                return self._done(
                    request, _("Accounts moved into %(folder)s.") % {"folder": folder}
                )
        return self._page(
            request,
            _("Put accounts in %(folder)s") % {"folder": folder},
            form=form,
            refusal=refusal,
            submit=_("Move accounts here"),
        )

    def move_view(self, request, object_id):
        folder = self._managed_folder(request, object_id)
        if folder is None:
            return self.does_not_exist(request, object_id)
        form = FolderForm(
            request.POST or None,
            initial={"name": folder.name, "parent": folder.parent_id},
        )
        form.fields["parent"].queryset = Folder.objects.filter(
            company=folder.company
        ).exclude(pk=folder.pk)
        refusal = None
        if request.method == "POST" and form.is_valid():
            try:
                services.update_folder(
                    folder=folder,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                )
            except DomainError as err:
                refusal = err
            else:
                self.log_change(request, folder, "Renamed or moved folder.")
                return self._done(request, _("Folder saved."))
        return self._page(
            request,
            _("Rename or move %(folder)s") % {"folder": folder},
            form=form,
            refusal=refusal,
            submit=_("Save"),
        )

    def delete_folder_view(self, request, object_id):
        folder = self._managed_folder(request, object_id)
        if folder is None:
            return self.does_not_exist(request, object_id)
        return self.confirmation_view(
            request,
            obj=folder,
            act=lambda d: services.delete_folder(folder=folder, actor=request.user),
            done=lambda _result, d: _("Folder deleted."),
            log=lambda _result, message: self.log_deletions(request, [folder]),
            redirect_to=reverse("admin:accounts_folder_changelist"),
            title=_("Delete folder %(folder)s") % {"folder": folder},
            review_template="admin/accounts/folder/form.html",
            context={
                "submit": _("Yes, delete it"),
                "question": _("Only an empty folder can be deleted."),
            },
        )
