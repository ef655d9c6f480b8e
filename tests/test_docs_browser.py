"""/docs in a real headless Chromium: Swagger UI renders, and "Try it out" reaches the API.

Chromium is Debian's package (apt-get install chromium); Playwright for Python drives it through
`executable_path`, so no browser is ever downloaded. Without Chromium the test is skipped, saying why.
"""
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI and the Vagrant VM run the tests as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    # No traffic of Chromium's own: the page must work offline, and the test proves it does.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="install Debian's chromium to run the browser test "
                                                         "(apt-get install chromium)")


@pytest.fixture
def engine():
    """The page's tests run on SQLite only: what they test is the page, and the API's own tests
    run on both engines (conftest's `engine`)."""
    return "sqlite"


DESKTOP, PHONE = (1366, 800), (390, 844)
TIME_ZONE = "America/Sao_Paulo"


@pytest.fixture
def open_page():
    """open_page(url, size=DESKTOP, locale="en-US", bypass_csp=False, before=None) -> a page in a
    fresh headless Chromium context showing `url`, with .requested (URLs), .console_messages and
    .script_errors. The browser test files share it (they import it from here).

    `before(page)` runs before the first request (routes, a fake clock). bypass_csp lets axe-core's
    script in; every other page runs under the page's real Content-Security-Policy.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def open_(url, size=DESKTOP, locale="en-US", bypass_csp=False, before=None):
            context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale=locale,
                                          timezone_id=TIME_ZONE, bypass_csp=bypass_csp)
            page = context.new_page()
            page.requested, page.console_messages, page.script_errors = [], [], []
            page.on("request", lambda request: page.requested.append(request.url))
            page.on("console", lambda message: page.console_messages.append(message.text))
            page.on("pageerror", lambda error: page.script_errors.append(str(error)))
            # Anything the page's Content-Security-Policy blocks is reported on the console.
            page.on("console", lambda message: page.script_errors.append(message.text)
                    if "Content Security Policy" in message.text else None)
            if before:
                before(page)
            page.goto(url)
            return page

        try:
            yield open_
        finally:
            browser.close()


def test_try_it_out_looks_a_cep_up(cep_server, make_staff_app, serve, open_page):
    page = open_page(f"{cep_server.url}/docs")
    # Swagger UI names each operation's block after its tag and operationId.
    operation = page.locator("#operations-ceps-getCep")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("tr[data-param-name='cep'] input").fill("01001000")
    operation.get_by_role("button", name="Execute").click()

    answer = operation.locator(".live-responses-table")
    expect(answer).to_contain_text("Praça da Sé")
    expect(answer.locator("tr.response .response-col_status")).to_have_text("200")
    assert ("GET", "/ceps/01001000", None, 200) in cep_server.log.calls

    # The staff API's explorer renders too, its document loaded from its own server.
    staff = serve(make_staff_app(cep_server.url))
    page.goto(f"{staff.url}/docs")
    expect(page.locator("#operations-employees-createEmployee")).to_be_visible()

    assert page.script_errors == []
    outside = [url for url in page.requested if not url.startswith((cep_server.url + "/", staff.url + "/"))]
    assert outside == [], "the explorer must work offline: nothing from the internet"


def test_authorize_sends_the_token_to_a_protected_staff_api(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url, token="token-typed-in-the-browser"))
    page = open_page(f"{staff.url}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input").fill("token-typed-in-the-browser")
    page.locator(".modal-ux button.authorize").click()  # Swagger UI labels it "Apply credentials"
    page.locator(".modal-ux button.btn-done").click()

    operation = page.locator("#operations-employees-listEmployees")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tr.response .response-col_status")).to_have_text("200")
    assert page.script_errors == []
