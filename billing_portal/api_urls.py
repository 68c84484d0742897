"""The /api/v1/ router: every app's endpoints, by path (SPEC §8)."""

from django.urls import path

from accounts.api import access as access_api
from accounts.api import credit as credit_api
from accounts.api import funds as accounts_api
from accounts.api import structure as structure_api
from coupons.api import coupons as coupons_api
from coupons.api import pools as pools_api
from coupons.api import products as products_api
from sharing.api import assets as assets_api
from sharing.api import rules as rules_api
from sharing.api import shares as shares_api
from sharing.api import usage as usage_api

urlpatterns = [
    path("auth/token/", accounts_api.TokenObtainApi.as_view(), name="api-token"),
    path("users/", accounts_api.UserCreateApi.as_view()),
    path("companies/", accounts_api.CompanyListCreateApi.as_view()),
    path("companies/<int:pk>/", accounts_api.CompanyDetailApi.as_view()),
    path("companies/<int:pk>/verify/", accounts_api.CompanyVerifyApi.as_view()),
    path("accounts/", accounts_api.AccountListCreateApi.as_view()),
    path("accounts/<int:pk>/", accounts_api.AccountDetailApi.as_view()),
    path("accounts/<int:pk>/access/", accounts_api.AccountAccessApi.as_view()),
    path(
        "accounts/<int:pk>/access/<int:user_id>/",
        access_api.AccountAccessRevokeApi.as_view(),
    ),
    path("accounts/<int:pk>/top-ups/", accounts_api.AccountTopUpApi.as_view()),
    path("accounts/<int:pk>/settle/", accounts_api.AccountSettleApi.as_view()),
    path(
        "accounts/<int:pk>/transferable/", accounts_api.AccountTransferableApi.as_view()
    ),
    path("accounts/<int:pk>/revocable/", accounts_api.AccountRevocableApi.as_view()),
    path("accounts/<int:pk>/ledger/", accounts_api.AccountLedgerApi.as_view()),
    path("transfers/", accounts_api.TransferListCreateApi.as_view()),
    path("transfers/<int:pk>/", accounts_api.TransferDetailApi.as_view()),
    path("revocations/", accounts_api.RevocationListCreateApi.as_view()),
    path("revocations/<int:pk>/", accounts_api.RevocationDetailApi.as_view()),
    path(
        "companies/<int:pk>/management-account/",
        structure_api.CompanyManagementAccountApi.as_view(),
    ),
    path("relationships/", structure_api.RelationshipListCreateApi.as_view()),
    path("relationships/<int:pk>/", structure_api.RelationshipDetailApi.as_view()),
    path(
        "relationships/<int:pk>/confirm/",
        structure_api.RelationshipConfirmApi.as_view(),
    ),
    path(
        "relationships/<int:pk>/reject/", structure_api.RelationshipRejectApi.as_view()
    ),
    path(
        "relationships/<int:pk>/cancel/", structure_api.RelationshipCancelApi.as_view()
    ),
    path(
        "relationships/<int:pk>/terminate/",
        structure_api.RelationshipTerminateApi.as_view(),
    ),
    path(
        "relationships/<int:pk>/permissions/",
        structure_api.RelationshipPermissionsApi.as_view(),
    ),
    path("folders/", structure_api.FolderListCreateApi.as_view()),
    path("folders/<int:pk>/", structure_api.FolderDetailApi.as_view()),
    path("folders/<int:pk>/accounts/", structure_api.FolderAccountsApi.as_view()),
    path(
        "companies/<int:pk>/credit-quota/", credit_api.CompanyCreditQuotaApi.as_view()
    ),
    path(
        "companies/<int:pk>/business-manager/",
        credit_api.CompanyBusinessManagerApi.as_view(),
    ),
    path("accounts/<int:pk>/credit-limit/", credit_api.AccountCreditLimitApi.as_view()),
    path(
        "accounts/<int:pk>/access-requests/",
        credit_api.AccountAccessRequestApi.as_view(),
    ),
    path("contracts/", credit_api.ContractListApi.as_view()),
    path("contracts/<int:pk>/confirm/", credit_api.ContractConfirmApi.as_view()),
    path("contracts/<int:pk>/withdraw/", credit_api.ContractWithdrawApi.as_view()),
    path("access-requests/", credit_api.AccessRequestListApi.as_view()),
    path("access-requests/<int:pk>/grant/", credit_api.AccessRequestGrantApi.as_view()),
    path(
        "access-requests/<int:pk>/decline/",
        credit_api.AccessRequestDeclineApi.as_view(),
    ),
    path(
        "access-exceptions/<int:pk>/revoke/",
        credit_api.AccessExceptionRevokeApi.as_view(),
    ),
    path("notifications/", credit_api.NotificationListApi.as_view()),
    path("assets/", assets_api.AssetListCreateApi.as_view()),
    path("assets/<int:pk>/", assets_api.AssetDetailApi.as_view()),
    path("assets/<int:pk>/shares/", shares_api.AssetShareListCreateApi.as_view()),
    path(
        "assets/<int:pk>/shares/<int:account>/",
        shares_api.AssetShareStopApi.as_view(),
    ),
    path(
        "assets/<int:pk>/folder-shares/<int:folder>/",
        shares_api.AssetFolderShareStopApi.as_view(),
    ),
    path("assets/<int:pk>/recipients/", assets_api.AssetRecipientListApi.as_view()),
    path(
        "assets/<int:pk>/recipient-rules/<int:account>/",
        assets_api.AssetRecipientRuleApi.as_view(),
    ),
    path("sharing-rules/", rules_api.SharingRuleListCreateApi.as_view()),
    path("usage/", usage_api.UsageListCreateApi.as_view()),
    path("deductions/", usage_api.DeductionListApi.as_view()),
    path("products/", products_api.ProductListCreateApi.as_view()),
    path("credit-pools/", pools_api.PoolListCreateApi.as_view()),
    path("credit-pools/<int:pk>/", pools_api.PoolDetailApi.as_view()),
    path("credit-pools/<int:pk>/approve/", pools_api.PoolApproveApi.as_view()),
    path("credit-pools/<int:pk>/reject/", pools_api.PoolRejectApi.as_view()),
    path("credit-pools/<int:pk>/coupons/", pools_api.PoolCouponIssueApi.as_view()),
    path("coupons/", coupons_api.CouponListApi.as_view()),
    path("coupons/<int:pk>/", coupons_api.CouponDetailApi.as_view()),
    path("coupons/<int:pk>/revoke/", coupons_api.CouponRevokeApi.as_view()),
]
