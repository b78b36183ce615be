"""Steps several browser tests share."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.fixtures.mail import confirmation_path


def sign_up(
    page: Page, base_url: str, *, email: str = "pat@browser.example", organization: str = "Browser Org"
) -> None:
    """Sign up through the form as a new user owning a new organization, and land on the overview."""
    page.goto(f"{base_url}/signup/")
    page.get_by_label("Your name").fill("Pat Platform")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.get_by_label("Organization").fill(organization)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    page.goto(f"{base_url}{confirmation_path(email)}")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
