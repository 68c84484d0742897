"""The credit control API (SPEC §3.4, §3.5, §7, §8)."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_portal import roles
from billing_portal.api import (
    AmountField,
    IdParameterField,
    NoBodyIn,
    StrictSerializer,
    get_visible_or_404,
    object_action_api,
    require_operator,
    validate,
)
from billing_portal.models import Notification
from billing_portal.money import Currency

from .. import selectors, services
from ..models import AccessException, AccessRequest, Contract, CreditQuota
from .funds import visible_account, visible_company
from .serializers import CompanyOut

# --- quota and business manager (operators) -----------------------------------------


class QuotaIn(StrictSerializer):
    currency = serializers.ChoiceField(choices=Currency.choices)
    amount = AmountField(positive=False)

    def validate_amount(self, value):
        if value < 0:
            raise serializers.ValidationError("A quota cannot be negative.")
        return value


class QuotaOut(serializers.ModelSerializer):
    amount = AmountField()

    class Meta:
        model = CreditQuota
        fields = ["company", "currency", "amount", "updated_at"]


class CompanyCreditQuotaApi(APIView):
    @extend_schema(request=QuotaIn, responses={200: QuotaOut})
    def put(self, request, pk):
        company = visible_company(request, pk)
        data = validate(QuotaIn, request)
        require_operator(request.user)
        quota = services.set_credit_quota(company=company, actor=request.user, **data)
        return Response(QuotaOut(quota).data)


class BusinessManagerIn(StrictSerializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(groups__name=roles.CBM)
    )


class CompanyBusinessManagerApi(APIView):
    @extend_schema(request=BusinessManagerIn, responses={200: CompanyOut})
    def put(self, request, pk):
        company = visible_company(request, pk)
        data = validate(BusinessManagerIn, request)
        require_operator(request.user)
        company = services.set_business_manager(
            company=company, user=data["user"], actor=request.user
        )
        return Response(CompanyOut(company).data)


# --- limits and contracts ------------------------------------------------------------


class ContractOut(serializers.ModelSerializer):
    limit = AmountField()

    class Meta:
        model = Contract
        fields = [
            "id",
            "account",
            "kind",
            "limit",
            "currency",
            "status",
            "terms_version",
            "created_at",
            "confirmed_at",
            "confirmed_by",
            "withdrawn_at",
        ]


class CreditLimitIn(StrictSerializer):
    amount = AmountField(positive=False)

    def validate_amount(self, value):
        if value < 0:
            raise serializers.ValidationError("A credit limit cannot be negative.")
        return value


class CreditLimitOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending_contract", "active"])
    credit_limit = AmountField()
    pending_credit_limit = AmountField(allow_null=True)
    contract = ContractOut(allow_null=True)


class AccountCreditLimitApi(APIView):
    @extend_schema(request=CreditLimitIn, responses={200: CreditLimitOut})
    def put(self, request, pk):
        # A management account's administrators reach a member whose limit they
        # set under SYNCHRONIZE_FINANCE_IDENTITY even when they cannot see it.
        account = get_visible_or_404(selectors.list_limit_accounts(request.user), pk=pk)
        data = validate(CreditLimitIn, request)
        services.ensure_can_set_limit(request.user, account)
        state, contract = services.set_credit_limit(
            account=account, amount=data["amount"], actor=request.user
        )
        account.refresh_from_db()
        return Response(
            CreditLimitOut(
                {
                    "status": state,
                    "credit_limit": account.credit_limit,
                    "pending_credit_limit": contract.limit if contract else None,
                    "contract": contract,
                }
            ).data
        )


class ContractQueryIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=Contract.Status.choices, required=False)


class ContractListApi(generics.ListAPIView):
    serializer_class = ContractOut

    @extend_schema(parameters=[ContractQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            ContractQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_contracts(self.request.user)
        if "status" in query:
            qs = qs.filter(status=query["status"])
        return qs


def _client_ip(request):
    return request.META.get("REMOTE_ADDR")


class ContractConfirmApi(APIView):
    @extend_schema(request=None, responses={200: ContractOut})
    def post(self, request, pk):
        contract = get_visible_or_404(
            selectors.list_visible_contracts(request.user), pk=pk
        )
        validate(NoBodyIn, request)
        contract = services.confirm_contract(
            contract=contract, actor=request.user, ip=_client_ip(request)
        )
        return Response(ContractOut(contract).data)


ContractWithdrawApi = object_action_api(
    name="ContractWithdrawApi",
    visible=selectors.list_visible_contracts,
    service=services.withdraw_contract,
    param="contract",
    out=ContractOut,
)


# --- access requests (§3.5) ---------------------------------------------------------


class AccessRequestIn(StrictSerializer):
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class AccessRequestOut(serializers.ModelSerializer):
    exception = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "account",
            "business_manager",
            "message",
            "conditions",
            "status",
            "requested_at",
            "requested_by",
            "decided_at",
            "decided_by",
            "exception",
        ]

    def get_exception(self, obj) -> int | None:
        exception = AccessException.objects.filter(request=obj).first()
        return exception.pk if exception else None


class AccessExceptionOut(serializers.ModelSerializer):
    class Meta:
        model = AccessException
        fields = [
            "id",
            "account",
            "request",
            "start",
            "end",
            "granted_by",
            "revoked_by",
        ]


class AccountAccessRequestApi(APIView):
    @extend_schema(request=AccessRequestIn, responses={201: AccessRequestOut})
    def post(self, request, pk):
        account = visible_account(request, pk)
        data = validate(AccessRequestIn, request)
        selectors.ensure_can_manage(request.user, account)
        access_request = services.request_access(
            account=account, actor=request.user, **data
        )
        return Response(
            AccessRequestOut(access_request).data, status=status.HTTP_201_CREATED
        )


class AccessRequestListApi(generics.ListAPIView):
    serializer_class = AccessRequestOut

    def get_queryset(self):
        return selectors.list_visible_access_requests(self.request.user)


AccessRequestGrantApi = object_action_api(
    name="AccessRequestGrantApi",
    visible=selectors.list_visible_access_requests,
    service=services.grant_access_request,
    param="request",
    out=AccessExceptionOut,
)
AccessRequestDeclineApi = object_action_api(
    name="AccessRequestDeclineApi",
    visible=selectors.list_visible_access_requests,
    service=services.decline_access_request,
    param="request",
    out=AccessRequestOut,
)
AccessExceptionRevokeApi = object_action_api(
    name="AccessExceptionRevokeApi",
    visible=selectors.list_visible_access_exceptions,
    service=services.revoke_access_exception,
    param="exception",
    out=AccessExceptionOut,
)


# --- notifications --------------------------------------------------------------------


class NotificationOut(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "channel",
            "to",
            "template",
            "params",
            "account",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
        ]


class NotificationQueryIn(serializers.Serializer):
    account = IdParameterField(required=False)


class NotificationListApi(generics.ListAPIView):
    serializer_class = NotificationOut

    @extend_schema(parameters=[NotificationQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            NotificationQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_notifications(self.request.user)
        if "account" in query:
            qs = qs.filter(account=query["account"])
        return qs
