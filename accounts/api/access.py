"""Who may use an account: revoking a person's access (operator).

Granting stays with ``POST /accounts/{id}/access/`` in ``funds``; this module
holds the access row as a resource of its own.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_portal.api import NoBodyIn, get_visible_or_404, require_operator, validate

from .. import selectors, services


class AccountAccessRevokeApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk, user_id):
        """Remove the user's access to the account; 404 when it has none there."""
        account = get_visible_or_404(
            selectors.list_visible_accounts(request.user), pk=pk
        )
        # The access row is the other object in the path: none there is a 404.
        access = selectors.get_account_access(account, user_id)
        if access is None:
            raise Http404
        validate(NoBodyIn, request)
        require_operator(request.user)
        services.revoke_access(account=account, user=access.user, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
