"""The API of the enterprise structure (SPEC §3.6, §3.7, §8)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_portal.api import (
    IdParameterField,
    StrictSerializer,
    VisibleRelatedField,
    get_visible_or_404,
    object_action_api,
    require_operator,
    validate,
)
from billing_portal.text import validate_display_name

from .. import selectors, services
from ..models import FinancialRelationship, Folder
from ..models.structure import RelationshipPermission
from .funds import visible_company
from .serializers import CompanyOut

# --- the management account -----------------------------------------------------


class ManagementAccountIn(StrictSerializer):
    account = VisibleRelatedField(queryset_for=selectors.list_visible_accounts)


class CompanyManagementAccountApi(APIView):
    @extend_schema(request=ManagementAccountIn, responses={200: CompanyOut})
    def put(self, request, pk):
        company = visible_company(request, pk)
        data = validate(ManagementAccountIn, request)
        require_operator(request.user)
        company = services.set_management_account(
            company=company, account=data["account"], actor=request.user
        )
        return Response(CompanyOut(company).data)


# --- relationships ----------------------------------------------------------------


class RelationshipIn(StrictSerializer):
    management_account = VisibleRelatedField(
        queryset_for=selectors.list_visible_accounts
    )
    member_account = VisibleRelatedField(queryset_for=selectors.list_target_accounts)
    type = serializers.ChoiceField(choices=FinancialRelationship.Type.choices)
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=RelationshipPermission.choices),
        required=False,
        default=list,
        max_length=len(RelationshipPermission.choices),
    )


class PermissionsIn(StrictSerializer):
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=RelationshipPermission.choices),
        max_length=len(RelationshipPermission.choices),
    )


class RelationshipOut(serializers.ModelSerializer):
    start_time = serializers.DateTimeField(source="start", allow_null=True)
    end_time = serializers.DateTimeField(source="end", allow_null=True)

    class Meta:
        model = FinancialRelationship
        fields = [
            "id",
            "management_account",
            "member_account",
            "type",
            "permissions",
            "status",
            "start_time",
            "end_time",
            "invited_at",
            "invited_by",
            "responded_at",
            "responded_by",
            "ended_by",
        ]


class RelationshipQueryIn(serializers.Serializer):
    active_at = serializers.DateTimeField(
        required=False,
        help_text="Only relationships active at this instant (ISO 8601): "
        "start_time <= active_at < end_time, an open end never ends.",
    )


class RelationshipListCreateApi(generics.ListAPIView):
    serializer_class = RelationshipOut

    @extend_schema(parameters=[RelationshipQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            RelationshipQueryIn, self.request, data=self.request.query_params.dict()
        )
        if "active_at" in query:
            return selectors.list_relationships_active_at(
                self.request.user, query["active_at"]
            )
        return selectors.list_visible_relationships(self.request.user)

    @extend_schema(request=RelationshipIn, responses={201: RelationshipOut})
    def post(self, request):
        data = validate(RelationshipIn, request)
        selectors.ensure_can_manage(request.user, data["management_account"])
        relationship = services.invite_member(actor=request.user, **data)
        return Response(
            RelationshipOut(relationship).data, status=status.HTTP_201_CREATED
        )


class RelationshipDetailApi(generics.RetrieveAPIView):
    serializer_class = RelationshipOut

    def get_queryset(self):
        return selectors.list_visible_relationships(self.request.user)


def _relationship_action(name: str, service):
    return object_action_api(
        name=name,
        visible=selectors.list_visible_relationships,
        service=service,
        param="relationship",
        out=RelationshipOut,
    )


RelationshipConfirmApi = _relationship_action(
    "RelationshipConfirmApi", services.confirm_relationship
)
RelationshipRejectApi = _relationship_action(
    "RelationshipRejectApi", services.reject_relationship
)
RelationshipCancelApi = _relationship_action(
    "RelationshipCancelApi", services.cancel_relationship
)
RelationshipTerminateApi = _relationship_action(
    "RelationshipTerminateApi", services.terminate_relationship
)


class RelationshipPermissionsApi(APIView):
    @extend_schema(request=PermissionsIn, responses={200: RelationshipOut})
    def put(self, request, pk):
        relationship = get_visible_or_404(
            selectors.list_visible_relationships(request.user), pk=pk
        )
        data = validate(PermissionsIn, request)
        relationship = services.set_relationship_permissions(
            relationship=relationship,
            permissions=data["permissions"],
            actor=request.user,
        )
        return Response(RelationshipOut(relationship).data)


# --- the resource directory --------------------------------------------------------


class FolderIn(StrictSerializer):
    company = VisibleRelatedField(queryset_for=selectors.list_visible_companies)
    name = serializers.CharField(max_length=100, validators=[validate_display_name])
    parent = VisibleRelatedField(
        queryset_for=selectors.list_visible_folders,
        required=False,
        allow_null=True,
    )

    def validate(self, attrs):
        parent = attrs.get("parent")
        if parent is not None and parent.company_id != attrs["company"].pk:
            raise serializers.ValidationError(
                {"parent": [_("This folder belongs to another company's directory.")]}
            )
        return attrs


class FolderUpdateIn(StrictSerializer):
    name = serializers.CharField(
        max_length=100, required=False, validators=[validate_display_name]
    )
    parent = VisibleRelatedField(
        queryset_for=selectors.list_visible_folders, required=False
    )


class FolderAccountsIn(StrictSerializer):
    accounts = serializers.ListField(
        child=VisibleRelatedField(queryset_for=selectors.list_target_accounts),
        allow_empty=False,
        max_length=500,
    )


class FolderOut(serializers.ModelSerializer):
    """A folder; ``accounts`` are the ids of its accounts that the user may see
    (read from ``selectors.with_visible_account_ids``)."""

    accounts = serializers.ListField(
        child=serializers.IntegerField(), source="visible_account_ids", read_only=True
    )

    class Meta:
        model = Folder
        fields = ["id", "company", "name", "parent", "depth", "accounts", "created_at"]


def folder_out(request, folder) -> dict:
    """The folder as it is now, with the accounts this user may see in it."""
    fresh = selectors.list_folders_with_accounts(request.user).get(pk=folder.pk)
    return FolderOut(fresh).data


class FolderQueryIn(serializers.Serializer):
    company = IdParameterField(required=False)


class FolderListCreateApi(generics.ListAPIView):
    serializer_class = FolderOut

    @extend_schema(parameters=[FolderQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            FolderQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_folders_with_accounts(self.request.user)
        if "company" in query:
            qs = qs.filter(company=query["company"])
        return qs.order_by("company", "depth", "name", "id")

    @extend_schema(request=FolderIn, responses={201: FolderOut})
    def post(self, request):
        data = validate(FolderIn, request)
        selectors.ensure_can_manage_directory(request.user, data["company"])
        folder = services.create_folder(actor=request.user, **data)
        return Response(folder_out(request, folder), status=status.HTTP_201_CREATED)


class FolderDetailApi(APIView):
    def _folder(self, request, pk):
        return get_visible_or_404(
            selectors.list_folders_with_accounts(request.user), pk=pk
        )

    @extend_schema(responses={200: FolderOut})
    def get(self, request, pk):
        return Response(FolderOut(self._folder(request, pk)).data)

    @extend_schema(request=FolderUpdateIn, responses={200: FolderOut})
    def patch(self, request, pk):
        folder = self._folder(request, pk)
        data = validate(FolderUpdateIn, request)
        selectors.ensure_can_manage_directory(request.user, folder.company)
        folder = services.update_folder(folder=folder, actor=request.user, **data)
        return Response(folder_out(request, folder))

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        folder = self._folder(request, pk)
        selectors.ensure_can_manage_directory(request.user, folder.company)
        services.delete_folder(folder=folder, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FolderAccountsApi(APIView):
    @extend_schema(request=FolderAccountsIn, responses={200: FolderOut})
    def post(self, request, pk):
        folder = get_visible_or_404(selectors.list_visible_folders(request.user), pk=pk)
        data = validate(FolderAccountsIn, request)
        selectors.ensure_can_manage_directory(request.user, folder.company)
        folder = services.place_accounts(
            folder=folder, accounts=data["accounts"], actor=request.user
        )
        return Response(folder_out(request, folder), status=status.HTTP_200_OK)
