"""What the browser tests share: logging in, the select2 picker, and both
languages (the header's language switch, the expected text per language, a
check that a Chinese page shows no English words of our own user interface).

The language is chosen the way a person chooses it: the switch "English |
简体中文" on the login page (every page has it), which keeps the choice in
Django's language cookie.
"""

import re

from playwright.sync_api import expect

PASSWORD = "pass-word-123"  # tests/factories.py UserFactory
EN, ZH = "en", "zh-hans"
LANGUAGES = [EN, ZH]

#: Words of our templates and messages that a Chinese page must never show.
#: Chosen so that no data of the tests' worlds contains them: account names
#: (Acme Main, Member 1, Manager …), company names, folder names (Team),
#: product names (… Service), usernames (owner, op), uids, currency codes and
#: reason codes (exceeds_transferable: an underscore joins it to a word, so
#: it never matches). Lower-case function words catch an untranslated sentence.
ENGLISH_UI_WORDS = (
    "Transfer",
    "Transferred",
    "Transferable",
    "Revoke",
    "Revocable",
    "Confirm",
    "Balance",
    "Balances",
    "Available",
    "Cash",
    "Credit",
    "Contract",
    "Contracts",
    "Ledger",
    "Pool",
    "Coupon",
    "Coupons",
    "Issue",
    "Issued",
    "Approve",
    "Approved",
    "Request",
    "Share",
    "Shared",
    "Shares",
    "Recipients",
    "Folder",
    "Review",
    "Pending",
    "Queued",
    "Sent",
    "History",
    "Cancel",
    "Yes",
    "Amount",
    "Status",
    "Total",
    "Remaining",
    "the",
    "and",
    "of",
    "to",
    "is",
)
_WORDS = re.compile(r"(?<![\w-])(" + "|".join(ENGLISH_UI_WORDS) + r")(?![\w-])")

#: What a person reads on the page: its title, the breadcrumbs, the messages,
#: the main content and the labels of its buttons (submit inputs keep theirs
#: in ``value``).
_VISIBLE_TEXT = """() => {
  const parts = [document.title];
  for (const el of document.querySelectorAll('.breadcrumbs, .messagelist, #content'))
    parts.push(el.innerText);
  const buttons = '#content input[type=submit], #content button';
  for (const el of document.querySelectorAll(buttons))
    parts.push(el.value || el.innerText);
  return parts.join('\\n');
}"""


def say(lang, en, zh):
    """The text a page shows in ``lang``."""
    return zh if lang == ZH else en


def switch_language(page, lang):
    """Click the header's switch (English | 简体中文) if the page is in another
    language, and wait for the page to come back in ``lang``."""
    html = page.locator("html")
    if html.get_attribute("lang") != lang:
        page.locator(f"#portal-language button[value='{lang}']").click()
    expect(html).to_have_attribute("lang", lang)


def english_words(page) -> list[str]:
    """Our English UI words found on the page, each with some context."""
    text = page.evaluate(_VISIBLE_TEXT)
    return [
        f"{m.group(1)!r} in …{text[max(0, m.start() - 40) : m.end() + 40]}…"
        for m in _WORDS.finditer(text)
    ]


def check_page(page, lang):
    """Every page of a flow: in the language chosen; in Chinese, no English
    words of ours. In English the same scan must find some, so that the word
    list keeps matching what our pages say."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.wait_for_load_state("domcontentloaded")
    found = english_words(page)
    if lang == ZH:
        assert found == [], f"English on a Chinese page {page.url}:\n" + "\n".join(
            found
        )
    else:
        assert found, f"the English scan finds none of its words on {page.url}"


def log_in(page, base, username, lang=EN):
    """Log in through the login page, in ``lang`` (its header switch)."""
    page.goto(f"{base}/admin/login/")
    switch_language(page, lang)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools strong")).to_have_text(username)
    expect(page.locator("html")).to_have_attribute("lang", lang)


def switch_user(page, base, username, lang=EN):
    """Another person at another browser: nothing of the last one kept."""
    page.context.clear_cookies()
    log_in(page, base, username, lang)


def pick(page, text):
    """Choose one option of the select2 picker (an autocomplete view)."""
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill(text)
    option = page.locator(".select2-results__option", has_text=text)
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator(".select2-selection__rendered")).to_contain_text(text)


def no_results(lang):
    """select2's own "nothing found" (its zh-CN translation in Chinese)."""
    return say(lang, "No results found", "未找到结果")
