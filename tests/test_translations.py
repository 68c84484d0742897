"""Every string marked for translation has a Simplified Chinese translation.

``makemessages`` runs on a copy of the project's sources and catalogue in a
temporary directory (the repository's ``locale/`` is never written), then the
merged catalogue is read: a string without a translation (empty ``msgstr``) or
one that gettext only guessed (``fuzzy``) fails with its source location. The
compiled ``.mo`` is checked against the ``.po`` so a forgotten ``msgfmt`` fails
too. Needs GNU gettext (``xgettext``, ``msgmerge``), as makemessages does.
"""

import ast
import gettext
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

#: What makemessages reads: the apps, the project package and the templates.
SOURCES = ["accounts", "sharing", "coupons", "billing_portal", "templates"]
CATALOGUE = Path("locale") / "zh_Hans" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w+\}")


def _entries(text: str) -> list[dict]:
    """The entries of a .po file: flags, context, ids, translations, locations."""
    entries = []
    for block in text.split("\n\n"):
        entry = {"flags": set(), "where": [], "msgctxt": None, "msgid_plural": None}
        entry["msgstr"], key = {}, None
        for line in block.strip().splitlines():
            if line.startswith("#~"):
                entry["obsolete"] = True
            elif line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#:"):
                entry["where"] += line[2:].split()
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                value = ast.literal_eval(line)
                if isinstance(key, int):
                    entry["msgstr"][key] += value
                else:
                    entry[key] += value
            else:
                keyword, _space, literal = line.partition(" ")
                value = ast.literal_eval(literal)
                if keyword.startswith("msgstr"):
                    key = int(keyword[7:-1]) if "[" in keyword else 0
                    entry["msgstr"][key] = value
                else:
                    key = keyword
                    entry[key] = value
        if "msgid" in entry and entry["msgid"] and not entry.get("obsolete"):
            entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def merged_catalogue(tmp_path_factory) -> list[dict]:
    """The catalogue after makemessages over the current sources (in a copy)."""
    if not shutil.which("xgettext") or not shutil.which("msgmerge"):
        pytest.skip("GNU gettext is not installed (apt install gettext)")
    root = Path(settings.BASE_DIR)
    work = tmp_path_factory.mktemp("makemessages")
    skip = shutil.ignore_patterns("__pycache__", "migrations", "*.pyc")
    for name in SOURCES:
        shutil.copytree(root / name, work / name, ignore=skip)
    (work / CATALOGUE).parent.mkdir(parents=True)
    shutil.copy(root / CATALOGUE, work / CATALOGUE)
    with pytest.MonkeyPatch.context() as patch, override_settings(LOCALE_PATHS=[]):
        patch.chdir(work)
        call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    return _entries((work / CATALOGUE).read_text())


def test_every_marked_string_has_a_chinese_translation(merged_catalogue):
    missing = [
        (entry["msgid"], entry["where"][:1])
        for entry in merged_catalogue
        if "fuzzy" in entry["flags"] or not all(entry["msgstr"].values())
    ]
    assert missing == [], f"{len(missing)} strings lack a zh_Hans translation"
    # The catalogue covers the admin, the models and the templates (not a stub).
    assert len(merged_catalogue) > 1000


def test_the_repository_catalogue_is_up_to_date(merged_catalogue):
    """The committed .po holds every string makemessages finds (run it, translate)."""
    committed = {
        (entry["msgctxt"], entry["msgid"])
        for entry in _entries((Path(settings.BASE_DIR) / CATALOGUE).read_text())
    }
    found = {(entry["msgctxt"], entry["msgid"]) for entry in merged_catalogue}
    assert found - committed == set()


def test_translations_keep_their_placeholders():
    for entry in _entries((Path(settings.BASE_DIR) / CATALOGUE).read_text()):
        # A plural form names its count (the singular may not).
        expected = set(PLACEHOLDER.findall(entry["msgid_plural"] or entry["msgid"]))
        for translated in entry["msgstr"].values():
            assert set(PLACEHOLDER.findall(translated)) == expected, entry["msgid"]


def test_the_compiled_catalogue_matches_the_po():
    """A .po edited without msgfmt leaves the screens in English."""
    po = _entries((Path(settings.BASE_DIR) / CATALOGUE).read_text())
    with open(Path(settings.BASE_DIR) / CATALOGUE.with_suffix(".mo"), "rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    stale = []
    for entry in po:
        msgid = entry["msgid"]
        if entry["msgctxt"] is not None:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if entry["msgid_plural"] is not None:
            got = compiled._catalog.get((msgid, 0))
        else:
            got = compiled._catalog.get(msgid)
        if got != entry["msgstr"][0]:
            stale.append(entry["msgid"])
    assert stale == []


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("Accounts overview", "账号总览"),
        ("ledger line", "账本明细"),
        ("account", "账号"),
        ("Top-up", "充值"),
    ],
)
def test_sample_strings_render_in_chinese(english, chinese):
    with translation.override("zh-hans"):
        assert translation.gettext(english) == chinese
    with translation.override("en"):
        assert translation.gettext(english) == english


def test_the_ledger_change_column_is_not_the_admin_change_link():
    """'Change' in Django's admin means edit (修改); the ledger's is an amount."""
    with translation.override("zh-hans"):
        assert translation.pgettext("signed amount of a ledger line", "Change") == (
            "变动金额"
        )
        assert translation.gettext("Change") == "修改"
