"""The accounts API (SPEC §8). Thin: validate, check permission, call one service."""

from axes.handlers.proxy import AxesProxyHandler
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, parsers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_portal.api import (
    MoneyThrottled,
    NoBodyIn,
    get_visible_or_404,
    require_operator,
    validate,
)
from billing_portal.idempotency import idempotent
from billing_portal.lockout import locked_out_response
from billing_portal.rest import ExactJSONParser

from .. import selectors, services
from ..models import Movement
from ..selectors import with_disabled_state, with_pending_limit
from .serializers import (
    AccessGrantIn,
    AccessOut,
    AccountCreateIn,
    AccountOut,
    AccountUpdateIn,
    AmountIn,
    CompanyCreateIn,
    CompanyOut,
    MovementIn,
    MovementOut,
    PostingOut,
    RevocableOut,
    RevocableQueryIn,
    TokenIn,
    TransferableOut,
    TransferCreatedOut,
    TransferOut,
    UserCreateIn,
)


def visible_account(request, pk):
    return get_visible_or_404(selectors.list_visible_accounts(request.user), pk=pk)


def visible_company(request, pk):
    return get_visible_or_404(selectors.list_visible_companies(request.user), pk=pk)


# --- companies and users -------------------------------------------------------


class TokenObtainApi(ObtainAuthToken):
    serializer_class = TokenIn
    # DRF's view brings its own plain JSONParser; ours refuses deep nesting and
    # reads numbers exactly, like every other endpoint. Forms stay accepted.
    parser_classes = (ExactJSONParser, parsers.FormParser, parsers.MultiPartParser)

    #: The schema documents the 429 ``locked_out`` (billing_portal.schema).
    counts_login_failures = True

    def post(self, request, *args, **kwargs):
        """Failed attempts count towards the login lockout (django-axes sees
        the serializer's ``authenticate()``); while locked, 429 ``locked_out``."""
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            # Axes marks the request it was given: DRF's, not Django's, so the
            # middleware does not see it; answered here.
            if getattr(request, "axes_locked_out", False):
                data = request.data if isinstance(request.data, dict) else {}
                return locked_out_response(str(data.get("username", ""))[:150])
            raise
        user = serializer.validated_data["user"]
        # A success resets the count, as a login in the admin does.
        AxesProxyHandler.user_logged_in(sender=type(self), request=request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class CompanyListCreateApi(generics.ListAPIView):
    serializer_class = CompanyOut

    def get_queryset(self):
        return selectors.list_visible_companies(self.request.user).order_by("id")

    @extend_schema(request=CompanyCreateIn, responses={201: CompanyOut})
    def post(self, request):
        data = validate(CompanyCreateIn, request)
        require_operator(request.user)
        company = services.create_company(actor=request.user, **data)
        return Response(CompanyOut(company).data, status=status.HTTP_201_CREATED)


class CompanyDetailApi(generics.RetrieveAPIView):
    serializer_class = CompanyOut

    def get_object(self):
        return visible_company(self.request, self.kwargs["pk"])


class CompanyVerifyApi(APIView):
    @extend_schema(request=None, responses={200: CompanyOut})
    def post(self, request, pk):
        company = visible_company(request, pk)
        validate(NoBodyIn, request)
        require_operator(request.user)
        company = services.verify_company(company=company, actor=request.user)
        return Response(CompanyOut(company).data)


class UserCreateApi(APIView):
    @extend_schema(request=UserCreateIn, responses={201: dict})
    def post(self, request):
        data = validate(UserCreateIn, request)
        require_operator(request.user)
        user = services.create_user(actor=request.user, **data)
        return Response(
            {"id": user.pk, "username": user.username, "role": data["role"]},
            status=status.HTTP_201_CREATED,
        )


# --- accounts -------------------------------------------------------------------


class AccountListCreateApi(generics.ListAPIView):
    serializer_class = AccountOut

    def get_queryset(self):
        # The pending limit and the §3.5 state behind transferable_amount come
        # as annotations: a fixed number of queries however many rows.
        return with_disabled_state(
            with_pending_limit(
                selectors.list_visible_accounts(self.request.user).order_by("id")
            )
        )

    @extend_schema(request=AccountCreateIn, responses={201: AccountOut})
    def post(self, request):
        data = validate(AccountCreateIn, request)
        require_operator(request.user)
        account = services.create_account(actor=request.user, **data)
        return Response(AccountOut(account).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    @extend_schema(responses={200: AccountOut})
    def get(self, request, pk):
        return Response(AccountOut(visible_account(request, pk)).data)

    @extend_schema(request=AccountUpdateIn, responses={200: AccountOut})
    def patch(self, request, pk):
        account = visible_account(request, pk)
        data = validate(AccountUpdateIn, request)
        require_operator(request.user)
        account = services.update_account(account=account, actor=request.user, **data)
        return Response(AccountOut(account).data)


class AccountAccessApi(APIView):
    @extend_schema(request=AccessGrantIn, responses={201: AccessOut})
    def post(self, request, pk):
        account = visible_account(request, pk)
        data = validate(AccessGrantIn, request)
        require_operator(request.user)
        access = services.grant_access(account=account, actor=request.user, **data)
        return Response(AccessOut(access).data, status=status.HTTP_201_CREATED)


class AccountTopUpApi(MoneyThrottled, APIView):
    throttle_scope = "top_ups"

    @extend_schema(request=AmountIn, responses={201: MovementOut})
    def post(self, request, pk):
        account = visible_account(request, pk)
        data = validate(AmountIn, request)
        require_operator(request.user)

        def action():
            movement = services.top_up(
                account=account, amount=data["amount"], actor=request.user
            )
            return status.HTTP_201_CREATED, MovementOut(movement).data

        return idempotent(request, data, action)


class AccountSettleApi(APIView):
    @extend_schema(request=None, responses={200: AccountOut})
    def post(self, request, pk):
        account = visible_account(request, pk)
        validate(NoBodyIn, request)
        require_operator(request.user)

        def action():
            services.settle_account(account=account, actor=request.user)
            account.refresh_from_db()
            return status.HTTP_200_OK, AccountOut(account).data

        return idempotent(request, {}, action)


class AccountTransferableApi(APIView):
    @extend_schema(responses={200: TransferableOut})
    def get(self, request, pk):
        account = visible_account(request, pk)
        return Response(TransferableOut(selectors.get_transferable(account)).data)


class AccountRevocableApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("destination", int, required=True)],
        responses={200: RevocableOut},
    )
    def get(self, request, pk):
        source = visible_account(request, pk)
        data = validate(RevocableQueryIn, request, data=request.query_params.dict())
        destination = data["destination"]
        revocable = selectors.get_revocable(source, destination)
        visible = selectors.can_see_account(request.user, destination)
        return Response(
            RevocableOut(revocable, context={"destination_visible": visible}).data
        )


class AccountLedgerApi(generics.ListAPIView):
    serializer_class = PostingOut

    def get_queryset(self):
        account = visible_account(self.request, self.kwargs["pk"])
        return selectors.list_account_postings(account)


# --- transfers and revocations ---------------------------------------------------


class TransferListCreateApi(MoneyThrottled, generics.ListAPIView):
    throttle_scope = "transfers"

    serializer_class = TransferOut

    def get_queryset(self):
        return selectors.list_visible_movements(
            self.request.user, Movement.Kind.TRANSFER
        )

    @extend_schema(request=MovementIn, responses={201: TransferCreatedOut})
    def post(self, request):
        data = validate(MovementIn, request)
        selectors.ensure_can_manage(request.user, data["source"])

        def action():
            movement = services.transfer_balance(actor=request.user, **data)
            # The movement holds the rows as the service left them (locked, fresh).
            movement.revocable = selectors.get_revocable(
                movement.account, movement.counterparty
            )
            return status.HTTP_201_CREATED, TransferCreatedOut(movement).data

        return idempotent(request, data, action)


class TransferDetailApi(generics.RetrieveAPIView):
    serializer_class = TransferCreatedOut

    def get_object(self):
        movement = get_object_or_404(
            selectors.list_visible_movements(self.request.user, Movement.Kind.TRANSFER),
            pk=self.kwargs["pk"],
        )
        movement.revocable = selectors.get_revocable(
            movement.account, movement.counterparty
        )
        return movement


class RevocationListCreateApi(MoneyThrottled, generics.ListAPIView):
    throttle_scope = "revocations"

    serializer_class = TransferOut

    def get_queryset(self):
        return selectors.list_visible_movements(
            self.request.user, Movement.Kind.REVOCATION
        )

    @extend_schema(request=MovementIn, responses={201: TransferOut})
    def post(self, request):
        data = validate(MovementIn, request)
        selectors.ensure_can_manage(request.user, data["source"])

        def action():
            movement = services.revoke_transfer(actor=request.user, **data)
            return status.HTTP_201_CREATED, TransferOut(movement).data

        return idempotent(request, data, action)


class RevocationDetailApi(generics.RetrieveAPIView):
    serializer_class = TransferOut

    def get_queryset(self):
        return selectors.list_visible_movements(
            self.request.user, Movement.Kind.REVOCATION
        )
