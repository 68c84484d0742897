"""The resource directory (SPEC §3.7): the root folder, a tree of at most 5
levels below it, accounts in at most one folder, moves that keep the depth
limit, deletion of empty folders only, and who may change it."""

import pytest

from accounts import selectors, services
from accounts.models import Account, Folder
from accounts.models.structure import MAX_FOLDER_DEPTH
from billing_portal.errors import ActionForbidden, DirectoryRefused
from billing_portal.models import AuditEvent
from tests.factories import AccountFactory, UserFactory


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def root_of(company) -> Folder:
    return selectors.get_root_folder(company)


def tree_state(company) -> list[tuple]:
    """Every folder and account placement of the company, comparable."""
    folders = list(
        Folder.objects.filter(company=company)
        .order_by("pk")
        .values_list("pk", "name", "parent", "depth")
    )
    accounts = list(
        Account.objects.filter(company=company)
        .order_by("pk")
        .values_list("pk", "folder")
    )
    return [folders, accounts, AuditEvent.objects.count()]


@pytest.fixture
def mkdir(operator):
    def do(company, name, parent=None, actor=None):
        return services.create_folder(
            company=company, name=name, parent=parent, actor=actor or operator
        )

    return do


@pytest.fixture
def chain(company, mkdir):
    """root → L1 → L2 → … → L<n>; returns [root, L1, …]."""

    def do(n, prefix="L", top=None):
        folders = [top or root_of(company)]
        for level in range(1, n + 1):
            folders.append(mkdir(company, f"{prefix}{level}", folders[-1]))
        return folders

    return do


def depths(*folders) -> list[int]:
    return [Folder.objects.get(pk=f.pk).depth for f in folders]


# --- the root and creating folders ------------------------------------------------


def test_create_company_makes_its_root_folder_and_accounts_join_it(operator):
    company = services.create_company(
        name="Initech", registration_number="REG-DIR-1", actor=operator
    )
    account = services.create_account(
        uid="3000000000000001",
        name="Initech Main",
        company=company,
        currency="CNY",
        actor=operator,
    )

    root = Folder.objects.get(company=company)
    assert (root.name, root.parent_id, root.depth, root.is_root) == (
        "Initech",
        None,
        0,
        True,
    )
    assert selectors.get_root_folder(company) == root
    assert account.folder_id == root.pk
    assert list(selectors.list_accounts_under(root)) == [account]


def test_a_folder_without_parent_goes_directly_under_the_root(company, mkdir):
    folder = mkdir(company, "Engineering")

    folder.refresh_from_db()
    assert (folder.parent_id, folder.depth, folder.company_id) == (
        root_of(company).pk,
        1,
        company.pk,
    )
    event = AuditEvent.objects.get(action="folder.create")
    assert event.after == {"name": "Engineering", "parent": root_of(company).pk}


def test_five_levels_below_the_root_are_allowed_a_sixth_is_not(company, chain, mkdir):
    folders = chain(MAX_FOLDER_DEPTH)
    assert depths(*folders) == [0, 1, 2, 3, 4, 5]
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        mkdir(company, "L6", folders[-1])

    assert codes(excinfo) == ["folder_depth_exceeded"]
    assert "at most 5 levels" in excinfo.value.reasons[0].message
    assert "would need 6" in excinfo.value.reasons[0].message
    assert tree_state(company) == before


def test_a_parent_of_another_company_is_refused(company, other_company, mkdir):
    foreign = mkdir(other_company, "Theirs")
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        mkdir(company, "Mine", foreign)

    assert codes(excinfo) == ["different_company"]
    assert tree_state(company) == before


def test_sibling_names_are_unique_but_cousins_may_share_one(company, mkdir):
    a, b = mkdir(company, "A"), mkdir(company, "B")
    mkdir(company, "Ops", a)
    mkdir(company, "Ops", b)  # a different parent: fine
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        mkdir(company, "Ops", a)

    assert codes(excinfo) == ["folder_name_taken"]
    assert tree_state(company) == before


def test_rename_or_move_onto_a_taken_name_is_refused(company, mkdir, operator):
    a, b = mkdir(company, "A"), mkdir(company, "B")
    a_ops, b_ops = mkdir(company, "Ops", a), mkdir(company, "Ops", b)
    a_dev = mkdir(company, "Dev", a)
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as renamed:
        services.update_folder(folder=a_dev, name="Ops", actor=operator)
    with pytest.raises(DirectoryRefused) as moved:
        services.update_folder(folder=b_ops, parent=a, actor=operator)
    with pytest.raises(DirectoryRefused) as both:
        services.update_folder(folder=a_dev, parent=b, name="Ops", actor=operator)

    assert codes(renamed) == codes(moved) == codes(both) == ["folder_name_taken"]
    assert tree_state(company) == before
    # Keeping its own name, or taking a free one while moving, is fine.
    services.update_folder(folder=a_ops, name="Ops", actor=operator)
    services.update_folder(folder=b_ops, parent=a, name="Ops (B)", actor=operator)
    b_ops.refresh_from_db()
    assert (b_ops.parent_id, b_ops.name) == (a.pk, "Ops (B)")


# --- moving folders -----------------------------------------------------------------


def test_move_updates_the_depth_of_the_whole_subtree(company, chain, operator):
    root, a1, a2, a3 = chain(3, prefix="A")
    _, _b1, b2 = chain(2, prefix="B")

    moved = services.update_folder(folder=a1, parent=b2, actor=operator)

    assert moved.parent_id == b2.pk
    assert depths(a1, a2, a3) == [3, 4, 5]
    assert Folder.objects.get(pk=a2.pk).parent_id == a1.pk
    event = AuditEvent.objects.get(action="folder.update")
    assert event.before == {"name": "A1", "parent": root.pk}
    assert event.after == {"name": "A1", "parent": b2.pk}

    # And back up, directly under the root.
    services.update_folder(folder=a1, parent=root, actor=operator)
    assert depths(a1, a2, a3) == [1, 2, 3]


def test_move_that_would_exceed_the_depth_limit_is_refused(company, chain, operator):
    _, a1, a2, a3 = chain(3, prefix="A")  # height of A1's subtree: 2
    *_, b3 = chain(3, prefix="B")
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        # A3 would land at depth 3 + 1 + 2 = 6.
        services.update_folder(folder=a1, parent=b3, actor=operator)

    assert codes(excinfo) == ["folder_depth_exceeded"]
    assert "would need 6" in excinfo.value.reasons[0].message
    assert tree_state(company) == before
    assert depths(a1, a2, a3) == [1, 2, 3]


def test_a_leaf_may_move_to_the_deepest_level(company, chain, operator):
    levels = chain(4, prefix="A")
    _, leaf = chain(1, prefix="Leaf")

    services.update_folder(folder=leaf, parent=levels[-1], actor=operator)

    assert depths(leaf) == [5]


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
def test_a_folder_cannot_move_into_its_own_subtree(company, chain, operator, target):
    _, a1, a2, a3 = chain(3, prefix="A")
    parent = {"itself": a1, "child": a2, "grandchild": a3}[target]
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        services.update_folder(folder=a1, parent=parent, actor=operator)

    assert codes(excinfo) == ["folder_cycle"]
    assert tree_state(company) == before


def test_a_folder_cannot_move_to_another_companys_directory(
    company, other_company, mkdir, operator
):
    mine, theirs = mkdir(company, "Mine"), mkdir(other_company, "Theirs")

    with pytest.raises(DirectoryRefused) as excinfo:
        services.update_folder(folder=mine, parent=theirs, actor=operator)

    assert codes(excinfo) == ["different_company"]
    assert Folder.objects.get(pk=mine.pk).parent_id == root_of(company).pk


def test_rename_keeps_the_place(company, mkdir, operator):
    folder = mkdir(company, "Old")

    services.update_folder(folder=folder, name="New", actor=operator)

    folder.refresh_from_db()
    assert (folder.name, folder.parent_id, folder.depth) == (
        "New",
        root_of(company).pk,
        1,
    )


def test_root_cannot_be_moved_or_deleted(company, mkdir, operator):
    root = root_of(company)
    child = mkdir(company, "Child")
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as moved:
        services.update_folder(folder=root, parent=child, actor=operator)
    with pytest.raises(DirectoryRefused) as deleted:
        services.delete_folder(folder=root, actor=operator)

    assert codes(moved) == ["root_folder"]
    assert "cannot be moved" in moved.value.reasons[0].message
    assert codes(deleted) == ["root_folder"]
    assert "cannot be deleted" in deleted.value.reasons[0].message
    assert tree_state(company) == before


# --- deleting folders -----------------------------------------------------------


def test_an_empty_folder_is_deleted(company, mkdir, operator):
    folder = mkdir(company, "Empty")

    services.delete_folder(folder=folder, actor=operator)

    assert not Folder.objects.filter(pk=folder.pk).exists()
    event = AuditEvent.objects.get(action="folder.delete")
    assert event.before == {"name": "Empty", "parent": root_of(company).pk}


@pytest.mark.parametrize("content", ["account", "subfolder"])
def test_a_folder_that_holds_something_is_not_deleted(
    company, make_account, mkdir, operator, content
):
    folder = mkdir(company, "Full")
    if content == "account":
        services.place_accounts(
            folder=folder, accounts=[make_account()], actor=operator
        )
    else:
        mkdir(company, "Inner", folder)
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        services.delete_folder(folder=folder, actor=operator)

    assert codes(excinfo) == ["folder_not_empty"]
    assert tree_state(company) == before


# --- placing accounts --------------------------------------------------------------


def test_an_account_is_in_at_most_one_folder(company, make_account, mkdir, operator):
    a, b = mkdir(company, "A"), mkdir(company, "B")
    x, y = make_account(), make_account()
    assert x.folder_id == root_of(company).pk

    services.place_accounts(folder=a, accounts=[x, y], actor=operator)
    services.place_accounts(folder=b, accounts=[x], actor=operator)

    x.refresh_from_db()
    y.refresh_from_db()
    assert (x.folder_id, y.folder_id) == (b.pk, a.pk)
    assert list(a.accounts.all()) == [y]
    assert list(b.accounts.all()) == [x]
    assert not root_of(company).accounts.filter(pk__in=[x.pk, y.pk]).exists()
    event = AuditEvent.objects.filter(action="folder.place_accounts").first()
    assert event.before == {"accounts": {str(x.pk): a.pk}}
    assert event.after == {"folder": b.pk}


def test_accounts_of_another_company_are_refused_with_each_named(
    company, other_company, make_account, mkdir, operator
):
    folder = mkdir(company, "A")
    mine = make_account()
    theirs = [AccountFactory(company=other_company) for _ in range(2)]
    companyless = AccountFactory(company=None)
    before = tree_state(company)

    with pytest.raises(DirectoryRefused) as excinfo:
        services.place_accounts(
            folder=folder, accounts=[mine, *theirs, companyless], actor=operator
        )

    assert codes(excinfo) == ["different_company"] * 3
    messages = [r.message for r in excinfo.value.reasons]
    assert [t.uid in m for t, m in zip(theirs, messages[:2], strict=True)] == [
        True,
        True,
    ]
    assert companyless.uid in messages[2]
    assert tree_state(company) == before
    for account in theirs:
        account.refresh_from_db()
        assert account.folder_id == root_of(other_company).pk


def test_accounts_under_a_folder_include_its_whole_subtree(
    company, make_account, chain, mkdir, operator
):
    root, a1, a2, a3 = chain(3, prefix="A")
    b1 = mkdir(company, "B1")
    accounts = {name: make_account(name=name) for name in ("r", "a1", "a2", "a3", "b1")}
    for name, folder in (("a1", a1), ("a2", a2), ("a3", a3), ("b1", b1)):
        services.place_accounts(
            folder=folder, accounts=[accounts[name]], actor=operator
        )

    def under(folder):
        return sorted(a.name for a in selectors.list_accounts_under(folder))

    assert under(root) == ["a1", "a2", "a3", "b1", "r"]
    assert under(a1) == ["a1", "a2", "a3"]
    assert under(a2) == ["a2", "a3"]
    assert under(a3) == ["a3"]
    assert under(b1) == ["b1"]


def test_folder_tree_in_display_order_with_counts(
    company, other_company, make_account, mkdir, operator
):
    root = root_of(company)
    eng = mkdir(company, "Engineering")
    backend = mkdir(company, "Backend", eng)
    api = mkdir(company, "API", backend)
    frontend = mkdir(company, "Frontend", eng)
    sales = mkdir(company, "Sales")
    make_account()  # stays in the root
    place = services.place_accounts
    place(folder=backend, accounts=[make_account(), make_account()], actor=operator)
    place(folder=api, accounts=[make_account()], actor=operator)
    place(folder=sales, accounts=[make_account()], actor=operator)
    AccountFactory(company=other_company)

    rows = [
        (row["folder"].pk, row["depth"], row["accounts"], row["total"])
        for row in selectors.get_folder_tree(company)
    ]

    assert rows == [
        (root.pk, 0, 1, 5),
        (eng.pk, 1, 0, 3),
        (backend.pk, 2, 2, 3),
        (api.pk, 3, 1, 1),
        (frontend.pk, 2, 0, 0),
        (sales.pk, 1, 1, 1),
    ]


# --- who may change the directory -----------------------------------------------

DIRECTORY_ACTIONS = ["create", "rename", "move", "delete", "place"]


def act(action, company, user, folder, other, account):
    if action == "create":
        return services.create_folder(company=company, name="N", actor=user)
    if action == "rename":
        return services.update_folder(folder=folder, name="R", actor=user)
    if action == "move":
        return services.update_folder(folder=folder, parent=other, actor=user)
    if action == "delete":
        return services.delete_folder(folder=folder, actor=user)
    return services.place_accounts(folder=folder, accounts=[account], actor=user)


@pytest.fixture
def directory(company, make_account, mkdir, operator, grant):
    """Acme with HQ as management account; users with each right."""
    hq = make_account(name="HQ")
    other_account = make_account(name="Other")
    services.set_management_account(company=company, account=hq, actor=operator)
    users = {}
    for name, account, permission in [
        ("hq_owner", hq, "owner"),
        ("hq_manager", hq, "manage"),
        ("hq_viewer", hq, "use"),
        ("other_owner", other_account, "owner"),
    ]:
        users[name] = UserFactory(username=name)
        grant(users[name], account, permission)
    users["operator"] = operator
    users["stranger"] = UserFactory(username="stranger")
    return {
        "users": users,
        "folder": mkdir(company, "F"),
        "other": mkdir(company, "G"),
        "account": other_account,
    }


@pytest.mark.parametrize("action", DIRECTORY_ACTIONS)
@pytest.mark.parametrize("who", ["operator", "hq_owner", "hq_manager"])
def test_operators_and_the_management_accounts_administrators_manage(
    company, directory, action, who
):
    user = directory["users"][who]

    act(
        action,
        company,
        user,
        directory["folder"],
        directory["other"],
        directory["account"],
    )

    event = AuditEvent.objects.filter(action__startswith="folder.").first()
    assert event.actor == user


@pytest.mark.parametrize("action", DIRECTORY_ACTIONS)
@pytest.mark.parametrize("who", ["hq_viewer", "other_owner", "stranger"])
def test_others_may_not_change_the_directory(company, directory, action, who):
    before = tree_state(company)

    with pytest.raises(ActionForbidden) as excinfo:
        act(
            action,
            company,
            directory["users"][who],
            directory["folder"],
            directory["other"],
            directory["account"],
        )

    assert codes(excinfo) == ["no_permission"]
    assert excinfo.value.status == 403
    assert tree_state(company) == before


def test_without_a_management_account_only_operators_manage(
    company, make_account, grant, operator
):
    account = make_account()
    user = UserFactory(username="acme-owner")
    grant(user, account, "owner")

    with pytest.raises(ActionForbidden):
        services.create_folder(company=company, name="X", actor=user)
    assert selectors.can_manage_directory(user, company) is False
    assert selectors.can_manage_directory(operator, company) is True
    folder = services.create_folder(company=company, name="X", actor=operator)
    assert folder.depth == 1


def test_directory_rights_follow_the_current_management_account(
    company, make_account, grant, operator
):
    first, second = make_account(), make_account()
    user = UserFactory(username="first-owner")
    grant(user, first, "owner")
    services.set_management_account(company=company, account=first, actor=operator)
    assert selectors.can_manage_directory(user, company) is True

    services.set_management_account(company=company, account=second, actor=operator)

    # ``company`` as loaded still names the first account: rights are re-read.
    assert selectors.can_manage_directory(user, company) is False
