"""The dashboard (GET /) in a real headless Chromium: form, grid, charts, keyboard, languages, phones.

Chromium is Debian's package, driven by Playwright through `executable_path` as in
test_docs_browser.py: no browser is ever downloaded. The accessibility checks run axe-core, an npm
package of tests/js (`npm ci --prefix tests/js --no-audit --no-fund`). Without Chromium, or
without axe-core for the checks that need it, a test is skipped, saying why; the few checks that
need no browser run anyway.

Every page opens in the time zone America/Sao_Paulo, so that the charts' axis names one.
Set SAVE_DASHBOARD_SCREENSHOTS=1 to refresh docs/dashboard-{desktop,phone}-{en,pt-BR}.png (the
README shows them); otherwise the screenshots go to the test's temporary directory, so a test run
never changes the repository.
"""
import os
import random
import re
import time

import pytest
import requests
from playwright.sync_api import expect
from webtest import TestApp

from conftest import REPO_ROOT, free_port
from deploy.pythonanywhere.one_app import PrefixDispatcher
from staff_api import dashboard
from test_docs_browser import CHROMIUM, DESKTOP, PHONE, TIME_ZONE, open_page  # noqa: F401  (open_page: a fixture)

AXE_JS = REPO_ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


@pytest.fixture
def engine():
    """The page's tests run on SQLite only: what they test is the page, and the API's own tests
    run on both engines (conftest's `engine`)."""
    return "sqlite"


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="install Debian's chromium to run the browser test "
                                                             "(apt-get install chromium)")
needs_axe = pytest.mark.skipif(not AXE_JS.exists(), reason="axe-core is not installed: run "
                                                           "`npm ci --prefix tests/js --no-audit --no-fund`")


# --- Without a browser -------------------------------------------------------------------------

def test_the_page_and_its_files_run_under_a_strict_policy(make_staff_app):
    client = TestApp(make_staff_app("http://127.0.0.1:9"))
    page = client.get("/")
    assert page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == dashboard.PAGE_POLICY
    assert "connect-src 'self';" in dashboard.PAGE_POLICY and "script-src 'self';" in dashboard.PAGE_POLICY
    # No inline script, style or event handler: the policy would block them, and the page needs none.
    assert "<script>" not in page.text and "<style" not in page.text
    assert not re.search(r"<[^>]*\s(on[a-z]+|style)=", page.text)
    for name in dashboard.FILES:
        assert client.get(f"/static/{name}").body == (REPO_ROOT / "staff_api" / "static" / name).read_bytes()
    # The browser never reads the CEP API itself: no address of it, no token of it in the page.
    script = (REPO_ROOT / "staff_api" / "static" / "dashboard.js").read_text()
    assert "CEP_API_TOKEN" not in script and "cep-api/logs/summary" in script


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


# --- Helpers for Chromium ----------------------------------------------------------------------

def add_employees(staff_url, *people):
    """POST each (name, email, cep[, role]) to the staff API; answer their ids."""
    ids = []
    for name, email, cep, *role in people:
        answer = requests.post(f"{staff_url}/employees", timeout=5,
                               json={"name": name, "email": email, "cep": cep, "role": role[0] if role else ""})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def fill_employee(page, name, email, cep, role="", number=""):
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Role", exact=True).fill(role)
    page.get_by_label("CEP", exact=True).fill(cep)
    page.get_by_label("Number", exact=True).fill(number)


def grid_rows(page):
    return page.locator("#grid tbody tr")


def expect_grid_loaded(page):
    expect(page.locator("#page-info")).to_contain_text("Page ")


def expect_charts_drawn(page, *chart_ids):
    """Each chart has drawn at least one path with points in it (lines or bars)."""
    for chart in chart_ids:
        paths = page.locator(f"#{chart} path.series[d^='M'], #{chart} path.bar[d^='M']")
        expect(paths.first).to_be_attached(timeout=15000)


def focused(page):
    """The focused element, as a user would name it: its aria-label, else its id."""
    return page.evaluate("() => { const e = document.activeElement; return e.getAttribute('aria-label') || e.id; }")


def tab_to(page, name, limit=40):
    """Press Tab until the element named `name` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == name:
            return
    raise AssertionError(f"{limit} presses of Tab never reached {name!r}")


def horizontal_overflow(page):
    """How many CSS pixels the page is wider than its window (0: no horizontal scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def assert_no_axe_violations(page, state):
    """axe-core finds nothing against WCAG 2.0 A and AA, 2.1 AA and 2.2 AA in the page as it is."""
    if not page.evaluate("() => 'axe' in window"):
        page.add_script_tag(path=str(AXE_JS))  # the page's context must bypass its CSP for this
    violations = page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
        return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\\n` +
            v.nodes.map((n) => `    ${n.target.join(" ")}: ${n.failureSummary.replace(/\\n/g, " ")}`).join("\\n"));
    }""", AXE_TAGS)
    assert violations == [], f"axe-core, {state} state:\n" + "\n".join(violations)


def contrast(first, second):
    """WCAG's contrast ratio of two colours given as 'rgb(r, g, b)'."""
    def luminance(colour):
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted([luminance(first), luminance(second)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def seed_request_logs(minutes=60):
    """Both services' request logs, over the last `minutes`, as a working morning leaves them: the
    screenshots' charts have something to show besides the few requests a test makes."""
    from cep_api.models import RequestLog as CepLog, db as cep_db
    from staff_api.models import RequestLog as StaffLog, db as staff_db

    rng = random.Random(21)
    now = time.time()
    staff_rows, cep_rows = [], []
    for minutes_ago in range(minutes, 0, -1):
        busy = 1 + 3 * (minutes_ago % 17 < 6)  # some busier stretches
        for _ in range(rng.randint(2, 6) * busy):
            at = now - minutes_ago * 60 + rng.uniform(0, 59)
            kind = rng.random()
            if kind < 0.55:
                staff_rows.append((at, "GET", "/employees", 200, rng.uniform(3, 9), 900, "", None))
            elif kind < 0.75:
                hit = rng.random() < 0.7
                wait = None if hit else rng.uniform(4, 15)
                staff_rows.append((at, "GET", "/addresses/<cep>", 200, rng.uniform(2, 5) + (wait or 0), 160,
                                   "hit" if hit else "miss", wait))
                if not hit:
                    cep_rows.append((at, "GET", "/ceps/<cep>", rng.choice([200, 200, 200, 404]),
                                     rng.uniform(1, 6), 140, "", None))
            elif kind < 0.9:
                staff_rows.append((at, "POST", "/employees", rng.choice([201, 201, 201, 422, 409]),
                                   rng.uniform(5, 14), 300, "hit", None))
            elif kind < 0.997:
                cep_rows.append((at, "GET", "/health", 200, rng.uniform(0.5, 2), 20, "", None))
            else:
                staff_rows.append((at, "POST", "/employees", 503, rng.uniform(1900, 2050), 140, "", None))
    columns = ["time", "method", "route", "status", "ms", "bytes", "cache", "cep_ms"]
    for database, table, rows in ((staff_db, StaffLog, staff_rows), (cep_db, CepLog, cep_rows)):
        with database.writing():
            table.insert_many([dict(zip(columns, row)) for row in rows]).execute()


# --- In Chromium: behaviour ----------------------------------------------------------------------

@needs_chromium
def test_the_grid_says_it_is_loading_and_cannot_page_before_data(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    held = []  # the first GET employees waits here, as on a slow network; the next ones go

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page = open_page(f"{staff.url}/", before=lambda page: page.route(lambda url: "/employees?" in url, hold_the_first))
    expect(page.locator("#page-info")).to_have_text("Loading employees…")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    expect(page.locator("#grid")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 · 0 employees")
    expect(page.locator("#grid-empty")).to_have_text("No employees yet: create the first one with the form above.")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    assert not any("page=0" in url for url in page.requested)
    assert page.script_errors == []


@needs_chromium
def test_the_form_fills_the_address_and_says_what_is_wrong_in_plain_words(cep_server, make_staff_app, serve,
                                                                          open_page):
    staff = serve(make_staff_app(cep_server.url))
    page = open_page(f"{staff.url}/")
    cep = page.get_by_label("CEP", exact=True)

    # Format feedback while typing, and no more than NNNNN-NNN fits.
    assert cep.get_attribute("maxlength") == "9"
    expect(page.locator("#cep-hint")).to_have_text("8 digits; the hyphen is optional: 01001-000.")
    cep.press_sequentially("0100")
    expect(page.locator("#cep-hint")).to_have_text("4 of 8 digits.")
    cep.press_sequentially("1a")
    expect(page.locator("#cep-hint")).to_have_text(re.compile("only digits"))
    cep.fill("")
    cep.press_sequentially("01001-00012345")
    expect(cep).to_have_value("01001-000")

    # A whole CEP fills in the address before anything is sent; the first time, from the CEP API.
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    expect(page.get_by_label("Town", exact=True)).to_have_value("São Paulo")
    expect(page.locator("#cep-status")).to_have_text("Address found (asked the CEP API).")
    assert page.get_by_label("Street", exact=True).get_attribute("readonly") is not None

    # An unknown CEP is explained, without the cache's jargon.
    cep.fill("01001-999")
    expect(page.locator("#cep-status")).to_have_text(re.compile(r"^No address is known for CEP 01001-999\. "))
    expect(page.locator("#cep-status")).not_to_contain_text("cache")

    # A failed submit: each field says what is wrong, and the focus goes to the first of them.
    fill_employee(page, "Ana Souza", "ana-at-example", "01001-999")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#e-email")).to_have_text("Write an e-mail address, like ana@example.com.")
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()
    expect(page.get_by_label("E-mail", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-message")).to_have_text("Not saved: check the marked fields.")
    expect(page.locator("#e-name")).to_be_empty()
    # The CEP is checked once the e-mail is right: "no such CEP" in words, never "(cache: ...)".
    page.get_by_label("E-mail", exact=True).fill("ana@example.com")
    expect(page.locator("#e-email")).to_be_empty()  # cleared as soon as the field changed
    expect(page.get_by_label("E-mail", exact=True)).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#e-cep")).to_have_text("No address is known for this CEP. Check the digits.")
    expect(cep).to_be_focused()
    expect(page.locator("#form-message")).not_to_contain_text("cache")
    cep.fill("01001-000")
    expect(page.locator("#e-cep")).to_be_empty()
    expect(page.locator("#cep-status")).to_have_text("Address found (from the staff API's cache).")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#form-message")).to_have_text(
        "Created employee #1, Ana Souza (address from the staff API's cache).")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")  # the form was cleared...
    expect(page.get_by_label("Name", exact=True)).to_be_focused()  # ...for the next one

    # The same e-mail again: said next to the e-mail, which gets the focus.
    fill_employee(page, "Ana Lima", "ANA@example.com", "01001000")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#e-email")).to_have_text("Another employee already has this e-mail.")
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()
    assert page.script_errors == []


@needs_chromium
def test_a_double_click_creates_one_employee_and_says_so(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    posts = []  # POST employees waits here until the double click is over, as on a slow network

    def hold(route):
        if route.request.method == "POST":
            posts.append(route)
        else:
            route.continue_()

    page = open_page(f"{staff.url}/", before=lambda page: page.route(re.compile(r"/employees$"), hold))
    expect_grid_loaded(page)
    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    save = page.locator("#save")
    save.dblclick()
    expect(save).to_have_text("Saving…")
    expect(save).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")  # Enter in the form, too, while the first request is on its way
    assert len(posts) == 1
    posts[0].continue_()
    expect(page.locator("#form-message")).to_have_text(re.compile(r"^Created employee #1, Ana Souza"))
    expect(save).to_have_text("Create employee")
    expect(save).not_to_have_attribute("aria-disabled", "true")
    expect(grid_rows(page)).to_have_count(1)
    expect(page.locator("#e-email")).to_be_empty()
    assert len(posts) == 1
    assert requests.get(f"{staff.url}/employees", timeout=5).json()["total"] == 1
    assert page.script_errors == []


@needs_chromium
def test_the_grid_sorts_pages_filters_and_keeps_all_of_it_in_the_address(cep_server, make_staff_app, serve,
                                                                         open_page):
    staff = serve(make_staff_app(cep_server.url))
    page = open_page(f"{staff.url}/")
    expect(page.locator("#grid-empty")).to_have_text("No employees yet: create the first one with the form above.")
    expect(page.locator("#grid")).to_be_hidden()

    add_employees(staff.url, ("Zeca Pires", "zeca@example.com", "20040-020"))
    page.reload()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 · 1 employee")
    ceps = ["20040-020", "30130-010", "01001-000"]  # Rio de Janeiro, Belo Horizonte, São Paulo
    add_employees(staff.url, *[(f"Person {i:02}", f"p{i}@example.com", ceps[i % 3], "Analyst") for i in range(11)])
    page.reload()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2 · 12 employees")

    # Sorting: a click on a column's header sorts by it, a second click reverses the order.
    name_header = page.locator("#grid th[data-sort='name']")
    page.get_by_role("button", name="Name", exact=True).click()
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(grid_rows(page).first).to_contain_text("Person 00")
    page.get_by_role("button", name="Name", exact=True).click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    expect(grid_rows(page).first).to_contain_text("Zeca Pires")
    expect(page.locator("#grid th[data-sort='id']")).not_to_have_attribute("aria-sort", re.compile("."))

    # Page size, paging, filters: all in the address, so that a reload keeps them.
    page.get_by_label("Per page", exact=True).select_option("20")
    expect(grid_rows(page)).to_have_count(12)
    page.get_by_label("Per page", exact=True).select_option("10")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2 · 12 employees")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    expect(page.get_by_role("button", name="Previous page")).to_be_focused()  # not dropped to <body>
    expect(page).to_have_url(re.compile(r"\?page=2&sort=-name$"))
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_role("button", name="Next page")).to_be_focused()
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2 · 12 employees")
    page.get_by_label("Filter by UF", exact=True).select_option("SP")
    page.get_by_label("Search name or e-mail", exact=True).fill("person")
    expect(page).to_have_url(re.compile(r"\?q=person&uf=SP&sort=-name$"))
    expect(grid_rows(page)).to_have_count(3)
    page.reload()
    expect(page.get_by_label("Search name or e-mail", exact=True)).to_have_value("person")
    expect(page.get_by_label("Filter by UF", exact=True)).to_have_value("SP")
    expect(name_header).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 · 3 employees")
    expect(grid_rows(page).first).to_contain_text("Person 08")
    # An address typed by hand: a page size the page does not offer becomes the default (10).
    page.goto(f"{staff.url}/?page=2&per_page=5&sort=cep")
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2 · 12 employees")
    expect(page.get_by_label("Per page", exact=True)).to_have_value("10")
    expect(page).to_have_url(re.compile(r"\?page=2&sort=cep$"))

    # A search that finds nothing says so, differently from an empty registry, and offers a way back.
    page.get_by_label("Search name or e-mail", exact=True).fill("nobody")
    expect(page.locator("#grid-empty")).to_contain_text("No employee matches this search and filter.")
    page.get_by_role("button", name="Clear search and filter").click()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2 · 12 employees")

    # A deletion's message stays once the grid has reloaded.
    page.get_by_role("button", name="Delete Zeca Pires").click()
    page.get_by_role("button", name="Yes, delete Zeca Pires").click()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2 · 11 employees")
    expect(page.locator("#grid-message")).to_have_text("Deleted employee #1, Zeca Pires.")
    assert requests.get(f"{staff.url}/employees/1", timeout=5).status_code == 404
    assert page.script_errors == []


@needs_chromium
def test_create_edit_and_delete_with_the_keyboard_only(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Bruno Lima", "bruno@example.com", "20040-020"))
    page = open_page(f"{staff.url}/")
    expect(grid_rows(page)).to_have_count(1)
    keyboard = page.keyboard

    # Create: the read-only address fields are not in the tab order.
    tab_to(page, "f-name")
    keyboard.type("Ana Souza")
    for field, text in (("f-email", "ana@example.com"), ("f-role", "Engineer"), ("f-cep", "01001-000"),
                        ("f-number", "100"), ("f-complement", "apto 12")):
        keyboard.press("Tab")
        assert focused(page) == field
        keyboard.type(text)
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    keyboard.press("Tab")
    assert focused(page) == "save"
    keyboard.press("Enter")
    expect(page.locator("#form-message")).to_have_text(re.compile(r"^Created employee #2, Ana Souza"))
    expect(grid_rows(page)).to_have_count(2)
    assert focused(page) == "f-name"

    # Edit, and Escape cancels it: nothing changes, the focus goes back to the row.
    tab_to(page, "Edit Ana Souza")
    keyboard.press("Enter")
    expect(page.locator("#form-title")).to_have_text("Edit employee #2")
    assert focused(page) == "f-name"
    keyboard.press("Escape")
    expect(page.locator("#form-title")).to_have_text("New employee")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    assert focused(page) == "Edit Ana Souza"
    keyboard.press("Enter")
    tab_to(page, "f-role")
    keyboard.press("ControlOrMeta+a")
    keyboard.type("Tech Lead")
    keyboard.press("Enter")  # sends the form from any of its fields
    expect(page.locator("#form-message")).to_have_text("Saved employee #2, Ana Souza.")
    expect(grid_rows(page).nth(1)).to_contain_text("Tech Lead")
    assert focused(page) == "Edit Ana Souza"

    # Delete: Escape takes the question back; then yes; the focus goes to the row that is left.
    keyboard.press("Tab")
    assert focused(page) == "Delete Ana Souza"
    keyboard.press("Enter")
    assert focused(page) == "Keep Ana Souza"
    keyboard.press("Escape")
    assert focused(page) == "Delete Ana Souza"
    keyboard.press("Enter")
    keyboard.press("Shift+Tab")
    assert focused(page) == "Yes, delete Ana Souza"
    keyboard.press("Enter")
    expect(grid_rows(page)).to_have_count(1)
    expect(page.locator("#grid-message")).to_have_text("Deleted employee #2, Ana Souza.")
    assert focused(page) == "Edit Bruno Lima"

    # The last one: the focus goes to the grid's heading, not to <body>.
    keyboard.press("Tab")
    keyboard.press("Enter")
    keyboard.press("Shift+Tab")
    keyboard.press("Enter")
    expect(page.locator("#grid-empty")).to_be_visible()
    assert focused(page) == "grid-title"
    assert requests.get(f"{staff.url}/employees", timeout=5).json()["total"] == 0
    assert page.script_errors == []


@needs_chromium
def test_the_charts_window_pause_tables_totals_and_colours(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Ana Souza", "ana@example.com", "01001-000"))
    assert requests.get(f"{staff.url}/employees/99", timeout=5).status_code == 404  # a 4xx to count
    page = open_page(f"{staff.url}/", before=lambda page: page.clock.install())
    expect(page.locator("#charts-title")).to_have_text("Request logs, last 15 minutes")
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status", "chart-cache")
    expect(page.locator("#chart-latency path.series.cep").first).to_be_attached(timeout=15000)

    # The window: the summaries of both services for it, and the address keeps it.
    with page.expect_request(lambda request: "cep-api/logs/summary?minutes=60" in request.url):
        page.get_by_label("Time window", exact=True).select_option("60")
    assert any(url.endswith("/logs/summary?minutes=60") and "cep-api" not in url for url in page.requested)
    expect(page.locator("#charts-title")).to_have_text("Request logs, last hour")
    expect(page).to_have_url(re.compile(r"\?minutes=60$"))
    expect(page.locator("#chart-latency .axis-title").first).to_contain_text(TIME_ZONE)

    # "Errors": 5xx, said so; 4xx apart.
    expect(page.locator("#totals li").first).to_contain_text(
        re.compile(r"^Staff API: \d+ requests, 1 client error \(4xx\), 0 server errors \(5xx\)\.$"))
    expect(page.locator("#routes thead")).to_contain_text("Server errors (5xx)")

    # Each chart's numbers as a table, which the keyboard opens.
    page.locator("#chart-staff-status ~ details summary").focus()
    page.keyboard.press("Enter")
    table = page.locator("#table-staff-status table")
    expect(table).to_be_visible()
    expect(table.locator("thead")).to_contain_text("4xx")
    expect(table.locator("tbody tr").first).to_be_visible()

    # The two services differ by colour too: 3:1 at least, against each other and the chart.
    colours = page.evaluate("""() => ["staff", "cep"].map((service) =>
        getComputedStyle(document.querySelector(`#chart-latency path.series.${service}`)).stroke)""")
    background = page.evaluate("() => getComputedStyle(document.querySelector('#chart-latency')).backgroundColor")
    assert contrast(*colours) >= 3 and all(contrast(colour, background) >= 3 for colour in colours), colours

    # Over 24 hours a bar adds up 15 minutes, and the table's times say the day too.
    page.get_by_label("Time window", exact=True).select_option("1440")
    expect(page.locator("#chart-staff-status .axis-title").nth(1)).to_have_text("requests per 15 minutes")
    expect(table.locator("tbody td").first).to_have_text(re.compile(r"^\d\d/\d\d.*\d\d:\d\d"))
    page.get_by_label("Time window", exact=True).select_option("60")

    # Pause: however much time passes, no summary is asked for; resume asks at once.
    page.get_by_role("button", name="Pause updates").click()
    expect(page.locator("#charts-updated")).to_contain_text("paused")
    with page.expect_request(lambda request: "mark=paused" in request.url):
        page.evaluate("() => fetch('health?mark=paused')")
    page.clock.run_for(60_000)
    with page.expect_request(lambda request: "mark=later" in request.url):
        page.evaluate("() => fetch('health?mark=later')")
    marks = [i for i, url in enumerate(page.requested) if "mark=" in url]
    assert [url for url in page.requested[marks[0]:marks[1]] if "logs/summary" in url] == []
    with page.expect_request(lambda request: "logs/summary" in request.url):
        page.get_by_role("button", name="Resume updates").click()
    expect(page.locator("#charts-updated")).to_contain_text("updated at")
    assert page.script_errors == []


@needs_chromium
def test_health_badges_say_how_each_service_is(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    page = open_page(f"{staff.url}/")
    expect(page.locator("#badge-staff")).to_have_text("Staff API: up")
    expect(page.locator("#badge-cep")).to_have_text("CEP API: up")
    expect(page.locator("#badge-staff")).to_have_attribute("data-state", "up")

    def database_down(route):
        route.fulfill(status=503, content_type="application/json",
                      body='{"error": {"status": 503, "message": "The database cannot be reached."}}')

    page = open_page(f"{staff.url}/", before=lambda page: page.route(re.compile(r"/health$"), database_down))
    expect(page.locator("#badge-staff")).to_have_text("Staff API: its database is down")
    expect(page.locator("#badge-cep")).to_have_text("CEP API: unknown")
    assert page.script_errors == []


@needs_chromium
def test_the_cep_api_down_is_said_and_nothing_is_saved(make_staff_app, serve, open_page):
    closed = f"http://127.0.0.1:{free_port()}"
    staff = serve(make_staff_app(closed))
    page = open_page(f"{staff.url}/")
    expect(page.locator("#badge-cep")).to_have_text("CEP API: down")
    expect(page.locator("#badge-staff")).to_have_text("Staff API: up")

    page.get_by_label("CEP", exact=True).fill("01001000")
    expect(page.locator("#cep-status")).to_have_text(re.compile(r"^The CEP service is down and CEP 01001-000 is "))
    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    page.get_by_role("button", name="Create employee").click()
    expect(page.locator("#form-message")).to_contain_text("nothing was saved")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ana Souza")  # kept, to send again later
    expect(page.locator("#chart-cep-status")).to_contain_text("CEP API logs unavailable")
    expect(page.locator("#legend-latency")).to_contain_text("CEP API logs unavailable")
    expect(page.locator("#totals")).to_contain_text("CEP API logs unavailable.")
    expect_charts_drawn(page, "chart-latency", "chart-staff-status")  # the staff API's own still draw
    assert requests.get(f"{staff.url}/employees", timeout=5).json()["total"] == 0
    assert page.script_errors == []


@needs_chromium
def test_a_protected_staff_api_asks_for_its_token_once(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url, token="t"))
    page = open_page(f"{staff.url}/")

    # The grid and the charts are both refused; one form asks for the token.
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#token-why")).to_have_text("Type the staff API's token (STAFF_API_TOKEN).")
    page.get_by_label("Token", exact=True).fill("wrong")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token-why")).to_contain_text("That token was refused")
    page.get_by_label("Token", exact=True).fill("t")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token-form")).to_be_hidden()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 · 0 employees")

    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.get_by_role("button", name="Create employee").click()
    expect(grid_rows(page)).to_have_count(1)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status")
    expect(page.locator("#token-form")).to_be_hidden()  # after a refresh of the charts, too
    assert page.evaluate("sessionStorage.getItem('cep-staff.staff-token')") == "t"

    page.reload()  # the same tab keeps the token: no question
    expect(grid_rows(page)).to_have_count(1)
    expect(page.locator("#token-form")).to_be_hidden()
    assert page.script_errors == []


@needs_chromium
def test_the_page_works_under_the_staff_prefix_of_the_one_app_layout(cep_app, cep_server, make_staff_app, serve,
                                                                      open_page):
    staff_app = make_staff_app(cep_server.url)
    one_app = serve(PrefixDispatcher({"/cep": cep_app, "/staff": staff_app}))
    page = open_page(f"{one_app.url}/staff")
    assert page.url == f"{one_app.url}/staff/"

    fill_employee(page, "Ana Souza", "ana@example.com", "01001-000")
    expect(page.get_by_label("Street", exact=True)).to_have_value("Praça da Sé")
    page.get_by_role("button", name="Create employee").click()
    expect(grid_rows(page)).to_have_count(1)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status")
    assert f"{one_app.url}/staff/cep-api/logs/summary?minutes=15" in page.requested
    outside = [url for url in page.requested[1:]  # the first is /staff, before the redirect
               if not url.startswith(one_app.url + "/staff/")]
    assert outside == [], "the page asks the staff API only"
    assert page.script_errors == []


@needs_chromium
def test_the_page_speaks_brazilian_portuguese_when_the_browser_asks(cep_server, make_staff_app, serve, open_page):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Ana Souza", "ana@example.com", "01001-000"))
    page = open_page(f"{staff.url}/", locale="pt-BR")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page).to_have_title("Painel de funcionários")
    expect(page.locator("#page-info")).to_have_text("Página 1 de 1 · 1 funcionário")
    expect(page.locator("#charts-title")).to_have_text("Registro de requisições, últimos 15 minutos")
    expect(page.locator("#badge-staff")).to_have_text("API de funcionários: no ar")
    page.get_by_label("CEP", exact=True).fill("01001-999")
    expect(page.locator("#cep-status")).to_contain_text("Nenhum endereço conhecido para o CEP 01001-999")
    page.get_by_label("CEP", exact=True).fill("01001-000")
    expect(page.get_by_label("Logradouro", exact=True)).to_have_value("Praça da Sé")
    page.get_by_label("Nome", exact=True).fill("Bruno Lima")
    page.get_by_label("E-mail", exact=True).fill("ana@example.com")
    page.get_by_role("button", name="Cadastrar funcionário").click()
    expect(page.locator("#e-email")).to_have_text("Outro funcionário já tem este e-mail.")
    expect_charts_drawn(page, "chart-latency")
    expect(page.locator("#chart-latency .axis-title").first).to_contain_text(f"hora ({TIME_ZONE}")

    # Every text has its translation, and every key the page's HTML names exists.
    missing = page.evaluate("""() => {
        const keys = [...document.querySelectorAll("[data-i18n]")].map((e) => e.dataset.i18n);
        return [...new Set([...keys, ...Object.keys(MESSAGES.en)])]
            .filter((key) => key !== "fieldError" && !(key in MESSAGES["pt-BR"] && key in MESSAGES.en));
    }""")
    assert missing == []

    # The switch changes the language at once, field errors included, and the choice is kept.
    page.get_by_label("Idioma", exact=True).select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#e-email")).to_have_text("Another employee already has this e-mail.")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 · 1 employee")
    expect(page.get_by_role("button", name="Create employee")).to_be_visible()
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Language", exact=True)).to_have_value("en")
    assert page.script_errors == []


# --- In Chromium: phones, accessibility, screenshots ----------------------------------------------

def show_everything(page):
    """Open every table of the charts' numbers, so that what is measured includes them."""
    for summary in page.locator("details.as-table summary").all():
        summary.click()


@needs_chromium
@pytest.mark.parametrize("width", [320, 390, 1366])
def test_no_horizontal_scrolling_and_the_charts_stack_on_a_phone(cep_server, make_staff_app, serve, open_page,
                                                                 width):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Maria da Conceição Albuquerque de Oliveira Santos",
                              "maria.conceicao.albuquerque.oliveira.santos@example.com.br", "01001-000",
                              "Coordenadora de Recursos Humanos"))
    page = open_page(f"{staff.url}/", size=(width, 800))
    expect(grid_rows(page)).to_have_count(1)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status")
    show_everything(page)
    page.get_by_role("button", name="Edit Maria da Conceição Albuquerque de Oliveira Santos").click()
    expect(page.locator("#routes tbody tr").first).to_be_attached()
    assert horizontal_overflow(page) == 0
    lefts = page.evaluate("() => [...document.querySelectorAll('.charts figure')]"
                          ".map((figure) => figure.getBoundingClientRect().left)")
    if width < 900:
        assert len(set(lefts)) == 1, "on a phone the charts stack, one under the other"
    else:
        assert len(set(lefts)) == 2, "on a desktop they sit two by two"
    assert page.script_errors == []


@needs_chromium
@needs_axe
@pytest.mark.parametrize("locale, size", [("en-US", DESKTOP), ("pt-BR", PHONE)])
def test_axe_finds_no_violations_loaded_error_editing_and_confirm(cep_server, make_staff_app, serve, open_page,
                                                                  locale, size):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Ana Souza", "ana@example.com", "01001-000", "Engineer"),
                  ("Bruno Lima", "bruno@example.com", "20040-020"))
    page = open_page(f"{staff.url}/", size=size, locale=locale, bypass_csp=True)
    expect(grid_rows(page)).to_have_count(2)
    expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status", "chart-cache")
    show_everything(page)
    assert_no_axe_violations(page, "loaded")

    page.locator("#f-cep").fill("01001-999")  # an unknown CEP, and a form sent with errors
    page.locator("#f-email").fill("bruno-at-example")
    page.locator("#save").click()
    expect(page.locator("#e-name")).not_to_be_empty()
    expect(page.locator("#e-email")).not_to_be_empty()
    assert_no_axe_violations(page, "error")

    grid_rows(page).first.locator("button").first.click()
    expect(page.locator("#cancel-edit")).to_be_visible()
    assert_no_axe_violations(page, "editing")

    grid_rows(page).nth(1).locator("button").nth(1).click()
    expect(page.locator("#grid button.danger")).to_be_visible()
    assert_no_axe_violations(page, "confirm")


@needs_chromium
def test_inputs_and_the_focus_ring_stand_out_3_to_1(make_staff_app, serve, open_page):
    """WCAG 1.4.11: what shows an input, and where the focus is, has 3:1 against the white around it."""
    page = open_page(f"{serve(make_staff_app('http://127.0.0.1:9')).url}/")
    page.locator("#f-name").focus()
    page.keyboard.press("Tab")  # from the keyboard: :focus-visible
    styles = page.evaluate("""() => {
        const style = getComputedStyle(document.activeElement);
        return [getComputedStyle(document.querySelector("#f-name")).borderTopColor, style.outlineColor,
                style.outlineStyle, style.outlineWidth];
    }""")
    border, outline, outline_style, outline_width = styles
    assert contrast(border, "rgb(255, 255, 255)") >= 3
    assert outline_style == "solid" and float(outline_width.removesuffix("px")) >= 2
    assert contrast(outline, "rgb(255, 255, 255)") >= 3


@needs_chromium
def test_screenshots_of_the_dashboard_at_desktop_and_phone_widths_in_both_languages(cep_server, make_staff_app,
                                                                                   serve, open_page, tmp_path):
    staff = serve(make_staff_app(cep_server.url))
    add_employees(staff.url, ("Ana Souza", "ana@example.com", "01001-000", "Engenheira"),
                  ("Bruno Lima", "bruno@example.com", "20040-020", "Analista"),
                  ("Carla Dias", "carla@example.com", "30130-010", "Gerente"),
                  ("Davi Rocha", "davi@example.com", "01310-100", "Designer"),
                  ("Elisa Prado", "elisa@example.com", "20040-020", "Suporte"))
    seed_request_logs(60)
    folder = REPO_ROOT / "docs" if os.environ.get("SAVE_DASHBOARD_SCREENSHOTS") == "1" else tmp_path
    for locale, language in (("en-US", "en"), ("pt-BR", "pt-BR")):
        for size, kind in ((DESKTOP, "desktop"), (PHONE, "phone")):
            page = open_page(f"{staff.url}/?minutes=60", size=size, locale=locale)
            expect(grid_rows(page)).to_have_count(5)
            expect_charts_drawn(page, "chart-latency", "chart-staff-status", "chart-cep-status", "chart-cache")
            expect(page.locator("#badge-cep")).to_have_attribute("data-state", "up")
            page.locator("#f-cep").fill("01001-000")  # an address in the form, for the picture
            expect(page.locator("#a-logradouro")).to_have_value("Praça da Sé")
            page.locator("#f-cep").blur()
            assert horizontal_overflow(page) == 0
            page.screenshot(path=str(folder / f"dashboard-{kind}-{language}.png"), full_page=True)
            assert page.script_errors == []
            outside = [url for url in page.requested if not url.startswith(staff.url + "/")]
            assert outside == [], "the dashboard must work offline: nothing from the internet"
