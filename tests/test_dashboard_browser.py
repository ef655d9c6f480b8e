"""The dashboard (GET /) in a real headless Chromium: form, grid, charts, tokens, and the /staff/ prefix.

Chromium is Debian's package, driven by Playwright through `executable_path` as in
test_docs_browser.py: no browser is ever downloaded. Without Chromium the browser tests are
skipped, saying why; the few checks that need no browser run anyway.

Set SAVE_DASHBOARD_SCREENSHOT=1 to refresh docs/dashboard.png (the README shows it); otherwise the
screenshot goes to the test's temporary directory, so a test run never changes the repository.
"""
import os
import re

import pytest
import requests
from playwright.sync_api import expect, sync_playwright
from webtest import TestApp

from conftest import REPO_ROOT, free_port
from deploy.pythonanywhere.one_app import PrefixDispatcher
from staff_api import dashboard
from test_docs_browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def engine():
    """The page's tests run on SQLite only: what they test is the page, and the API's own tests
    run on both engines (conftest's `engine`)."""
    return "sqlite"

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="install Debian's chromium to run the browser test "
                                                             "(apt-get install chromium)")


# --- Helpers ------------------------------------------------------------------------------------

def let_the_page_read_cep_logs(cep_app, staff):
    """The CEP API answers its /logs* to pages from the staff server's origin (CEP_API_CORS_ORIGINS)."""
    cep_app.config["chassis.cors"] = ((staff.url,), ("/logs", "/logs/summary"))


# --- Without a browser -------------------------------------------------------------------------

def test_the_page_says_where_the_cep_logs_are_and_lets_only_them_in(make_staff_app):
    client = TestApp(make_staff_app("http://127.0.0.1:9"))
    page = client.get("/")
    assert page.content_type == "text/html"
    assert '<meta name="cep-api-logs" content="http://127.0.0.1:9/logs/summary">' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' http://127.0.0.1:9;" in policy and "script-src 'self';" in policy
    # No inline script or event handler: the policy would block them, and the page needs none.
    assert "<script>" not in page.text and not re.search(r"<[^>]*\son[a-z]+=", page.text)
    for name in dashboard.FILES:
        assert client.get(f"/static/{name}").body == (REPO_ROOT / "staff_api" / "static" / name).read_bytes()


def test_the_cep_logs_address_can_be_set_and_a_relative_one_adds_no_origin(make_staff_app):
    client = TestApp(make_staff_app("http://cep-api.internal", cep_api_logs_url="../cep/logs/summary"))
    page = client.get("/")
    assert 'content="../cep/logs/summary"' in page.text
    assert "connect-src 'self';" in page.headers["Content-Security-Policy"]


def test_staff_cep_logs_url_sets_the_cep_logs_address_a_browser_reaches():
    """compose.yaml: the staff API calls http://cep_api:8001, the browser the published port."""
    from staff_api.app import config_from_env

    settings = config_from_env({"CEP_API_URL": "http://cep_api:8001",
                                "STAFF_CEP_LOGS_URL": "http://127.0.0.1:8001/logs/summary"})
    assert settings["staff_api.cep_api_logs_url"] == "http://127.0.0.1:8001/logs/summary"
    assert config_from_env({})["staff_api.cep_api_logs_url"] == ""  # beside CEP_API_URL


@pytest.mark.parametrize("path", ["/static/index.html", "/static/no-such.js", "/static/..", "/static/%2e%2e",
                                  "/static/..%2f..%2fapp.py", "/static/../app.py", "/static/%2Fetc%2Fpasswd"])
def test_static_serves_nothing_but_the_pages_files(make_staff_app, path):
    client = TestApp(make_staff_app("http://127.0.0.1:9"))
    answer = client.get(path, expect_errors=True)
    assert answer.status_int in (400, 404) and answer.content_type == "application/json"


def test_with_a_token_the_page_and_its_files_are_open_and_the_data_is_not(make_staff_app):
    client = TestApp(make_staff_app("http://127.0.0.1:9", token="t"))
    assert client.get("/").status_int == 200
    assert client.get("/static/dashboard.js").status_int == 200
    assert client.get("/employees", expect_errors=True).status_int == 401


def test_under_a_prefix_the_page_is_reached_with_its_trailing_slash(make_staff_app):
    client = TestApp(PrefixDispatcher({"/staff": make_staff_app("http://127.0.0.1:9")}))
    answer = client.get("/staff")
    assert answer.status_int == 308 and answer.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_int == 200
    assert client.get("/staff/static/dashboard.css").content_type == "text/css"


# --- In Chromium -------------------------------------------------------------------------------

@pytest.fixture
def browser_page():
    """A fresh page in headless Chromium, with the URLs it requested and the script errors it met."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.requested, page.script_errors = [], []
            page.on("request", lambda request: page.requested.append(request.url))
            page.on("pageerror", lambda error: page.script_errors.append(str(error)))
            # Anything the page's Content-Security-Policy blocks is reported on the console.
            page.on("console", lambda message: page.script_errors.append(message.text)
                    if "Content Security Policy" in message.text else None)
            yield page
        finally:
            browser.close()


def fill_employee(page, name, email, cep, role="", number=""):
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Role", exact=True).fill(role)
    page.get_by_label("CEP", exact=True).fill(cep)
    page.get_by_label("Number", exact=True).fill(number)


def grid_rows(page):
    return page.locator("#grid tbody tr")


def expect_charts_drawn(page, *chart_ids):
    """Each chart has drawn at least one path with points in it (lines or bars)."""
    for chart in chart_ids:
        paths = page.locator(f"#{chart} path.series[d^='M'], #{chart} path.bar[d^='M']")
        expect(paths.first).to_be_attached(timeout=15000)


@needs_chromium
def test_create_find_edit_and_delete_employees_and_see_the_logs(cep_app, cep_server, make_staff_app, serve,
                                                                 browser_page, tmp_path):
    page = browser_page
    staff = serve(make_staff_app(cep_server.url))
    let_the_page_read_cep_logs(cep_app, staff)
    page.goto(f"{staff.url}/")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (0 employees)")

    # A whole CEP fills in the address before anything is sent; the first time, from the CEP API.
    page.get_by_label("CEP", exact=True).fill("01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    expect(page.get_by_label("Town", exact=True)).to_have_value("São Paulo")
    expect(page.locator("#cep-status")).to_contain_text("cache: miss")
    assert page.get_by_label("Street", exact=True).get_attribute("readonly") is not None

    fill_employee(page, "Ana Souza", "ana@example.com", "01001000", role="Engineer", number="100")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#form-message")).to_contain_text("Created employee #1, Ana Souza")
    expect(grid_rows(page)).to_have_count(1)
    expect(grid_rows(page).first).to_contain_text("Praça da Sé, 100")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")  # the form was cleared

    # A bad e-mail: the API's message appears next to the e-mail input, and nothing is saved.
    fill_employee(page, "Bruno Lima", "bruno-at-example", "01001-000")
    expect(page.locator("#cep-status")).to_contain_text("cache: hit")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#e-email")).not_to_be_empty()
    expect(page.get_by_label("E-mail", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-name")).to_be_empty()
    page.get_by_label("E-mail", exact=True).fill("bruno@example.com")
    page.get_by_role("button", name="Create employee").click()
    expect(grid_rows(page)).to_have_count(2)
    expect(page.get_by_label("E-mail", exact=True)).not_to_have_attribute("aria-invalid", "true")

    # An unknown CEP says so.
    page.get_by_label("CEP", exact=True).fill("01001999")
    expect(page.locator("#cep-status")).to_contain_text("Unknown CEP")

    # Edit into the form, then save (PUT).
    page.get_by_role("button", name="Edit Ana Souza").click()
    expect(page.get_by_label("E-mail", exact=True)).to_have_value("ana@example.com")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.get_by_label("Role", exact=True).fill("Tech Lead")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#form-message")).to_contain_text("Saved employee #1")
    expect(grid_rows(page).first).to_contain_text("Tech Lead")
    assert requests.get(f"{staff.url}/employees/1", timeout=5).json()["role"] == "Tech Lead"

    # Delete asks first, in the row.
    page.get_by_role("button", name="Delete Bruno Lima").click()
    page.get_by_role("button", name="Keep Bruno Lima").click()
    expect(grid_rows(page)).to_have_count(2)
    page.get_by_role("button", name="Delete Bruno Lima").click()
    page.get_by_role("button", name="Yes, delete Bruno Lima").click()
    expect(grid_rows(page)).to_have_count(1)
    assert requests.get(f"{staff.url}/employees/2", timeout=5).status_code == 404

    # Paging, search and the UF filter.
    ceps = ["20040-020", "30130-010", "01001-000"]  # Rio de Janeiro, Belo Horizonte, São Paulo
    for i in range(11):
        answer = requests.post(f"{staff.url}/employees", timeout=5, json={
            "name": f"Person {i:02}", "email": f"p{i}@example.com", "cep": ceps[i % 3], "role": "Analyst"})
        assert answer.status_code == 201, answer.text
    page.get_by_label("Filter by UF", exact=True).select_option("")  # reload with the new rows
    total = requests.get(f"{staff.url}/employees", timeout=5).json()["total"]
    expect(page.locator("#page-info")).to_have_text(f"Page 1 of 2 ({total} employees)")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-info")).to_have_text(f"Page 2 of 2 ({total} employees)")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_label("Search name or e-mail", exact=True).fill("ana@")
    expect(grid_rows(page)).to_have_count(1)
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (1 employees)")
    page.get_by_label("Search name or e-mail", exact=True).fill("")
    page.get_by_label("Filter by UF", exact=True).select_option("AC")
    expect(page.locator("#grid-message")).to_have_text("No employees match.")
    page.get_by_label("Filter by UF", exact=True).select_option("SP")
    expect(grid_rows(page).first).to_contain_text("SP")

    # The charts of both services' logs, drawn from their summaries.
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status", "chart-cache")
    expect(page.locator("#legend-latency")).to_contain_text("CEP API p95")
    expect(page.locator("#routes tbody tr").first).to_be_attached()

    screenshot = REPO_ROOT / "docs" / "dashboard.png" if os.environ.get("SAVE_DASHBOARD_SCREENSHOT") == "1" \
        else tmp_path / "dashboard.png"
    screenshot.parent.mkdir(exist_ok=True)
    page.get_by_label("Filter by UF", exact=True).select_option("")
    page.get_by_label("CEP", exact=True).fill("01001-000")  # an address in the form, for the picture
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.screenshot(path=str(screenshot), full_page=True)

    assert page.script_errors == []
    outside = [url for url in page.requested if not url.startswith((staff.url + "/", cep_server.url + "/"))]
    assert outside == [], "the dashboard must work offline: nothing from the internet"


@needs_chromium
def test_a_protected_staff_api_asks_for_its_token_once(cep_app, cep_server, make_staff_app, serve, browser_page):
    page = browser_page
    staff = serve(make_staff_app(cep_server.url, token="t"))
    let_the_page_read_cep_logs(cep_app, staff)
    page.goto(f"{staff.url}/")

    # The grid and the charts are both refused; one form asks for the token.
    expect(page.locator("#token-form")).to_be_visible()
    page.get_by_label("Token", exact=True).fill("wrong")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token-why")).to_contain_text("That token was refused")
    page.get_by_label("Token", exact=True).fill("t")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token-form")).to_be_hidden()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (0 employees)")

    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.get_by_role("button", name="Create employee").click()
    expect(grid_rows(page)).to_have_count(1)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status")
    expect(page.locator("#token-form")).to_be_hidden()  # after a refresh of the charts, too
    assert page.evaluate("sessionStorage.getItem('cep-staff.staff-token')") == "t"

    page.reload()  # the same tab keeps the token: no question
    expect(grid_rows(page)).to_have_count(1)
    expect(page.locator("#token-form")).to_be_hidden()
    assert page.script_errors == []


@needs_chromium
def test_the_cep_api_down_is_said_and_nothing_is_saved(make_staff_app, serve, browser_page):
    page = browser_page
    closed = f"http://127.0.0.1:{free_port()}"
    staff = serve(make_staff_app(closed))
    page.goto(f"{staff.url}/")

    page.get_by_label("CEP", exact=True).fill("01001000")
    expect(page.locator("#cep-status")).to_contain_text("The CEP service is down")
    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#form-message")).to_contain_text("nothing was saved")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ana Souza")  # kept, to send again later
    expect(page.locator("#chart-cep-status")).to_contain_text("CEP API logs unavailable")
    expect(page.locator("#legend-latency")).to_contain_text("CEP API logs unavailable")
    expect_charts_drawn(page, "chart-latency", "chart-staff-status")  # the staff API's own still draw
    assert requests.get(f"{staff.url}/employees", timeout=5).json()["total"] == 0
    assert page.script_errors == []


@needs_chromium
def test_the_page_works_under_the_staff_prefix_of_the_one_app_layout(cep_app, cep_server, make_staff_app, serve,
                                                                      browser_page):
    page = browser_page
    staff_app = make_staff_app(cep_server.url, cep_api_logs_url="../cep/logs/summary")
    one_app = serve(PrefixDispatcher({"/cep": cep_app, "/staff": staff_app}))
    page.goto(f"{one_app.url}/staff")
    assert page.url == f"{one_app.url}/staff/"

    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.get_by_role("button", name="Create employee").click()
    expect(grid_rows(page)).to_have_count(1)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status")
    assert f"{one_app.url}/cep/logs/summary?minutes=60" in page.requested
    outside = [url for url in page.requested[1:]  # the first is /staff, before the redirect
               if not url.startswith((one_app.url + "/staff/", one_app.url + "/cep/"))]
    assert outside == []
    assert page.script_errors == []
