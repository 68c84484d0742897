from rest_framework.authtoken.models import Token

from tests.factories import UserFactory


def test_a_user_sees_and_replaces_its_api_token_in_the_admin(client, db):
    user = UserFactory()
    client.force_login(user)
    page = client.get("/admin/api-token/")
    assert page.status_code == 200
    token = Token.objects.get(user=user)
    assert token.key in page.content.decode()
    assert "/admin/api-token/" in client.get("/admin/").content.decode()
    replaced = client.post("/admin/api-token/", follow=True)
    new = Token.objects.get(user=user)
    assert new.key != token.key
    assert new.key in replaced.content.decode()
    # The token page shows only the user's own token and needs a login.
    client.logout()
    assert client.get("/admin/api-token/").status_code == 302
