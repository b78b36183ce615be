"""In a real browser: sign up → create an API token → it is shown once → call the API with it →
revoke it → the call is refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser.journeys import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _call_api(base_url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/organization/", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_signup_token_shown_once_api_call_revoke_refused(live_server, page: Page) -> None:
    base = live_server.url
    sign_up(page, base)

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_text("No API tokens yet")).to_be_visible()
    page.get_by_label("Name").fill("CI deploys")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#token-value").inner_text().strip()
    assert token.startswith("nls_")

    page.reload()
    expect(page.locator("#token-value")).to_have_count(0)
    expect(page.get_by_text("CI deploys")).to_be_visible()
    assert token not in page.content()

    status, body = _call_api(base, token)
    assert status == 200 and body["name"] == "Browser Org"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="CI deploys").get_by_text("revoked")).to_be_visible()

    status, body = _call_api(base, token)
    assert status == 401 and "revoked" in body["error"]["message"]
