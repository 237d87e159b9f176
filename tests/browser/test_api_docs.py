"""The API reference page (/docs) in a real browser: it renders the document from the
server's own files, and no request leaves the server's origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Route, expect
from tests.support.browser import Site


def test_docs_render_with_every_request_on_loopback(site: Site) -> None:
    page = site.page
    seen: list[str] = []
    refused: list[str] = []

    def gate(route: Route) -> None:
        url = route.request.url
        seen.append(url)
        parts = urlsplit(url)
        if parts.scheme == "data" or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.context.route("**/*", gate)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(site.url + "/playground")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API docs").click()
    expect(page).to_have_url(site.url + "/docs")
    expect(page.get_by_role("heading", name="Opendance")).to_be_visible()
    # each door's operations are there, and an operation opens
    for path in ("/v1/generate", "/v1/videos/{video_id}", "/api/v3/contents/generations/tasks"):
        expect(page.get_by_text(path, exact=True).first).to_be_visible()
    expect(page.get_by_text("Webhooks", exact=True).first).to_be_visible()
    page.get_by_text("/v1/generate", exact=True).first.click()
    expect(page.get_by_text("GenerateRequest").first).to_be_visible()
    site.screenshot("api-docs")

    assert refused == []
    assert any(url.endswith("/openapi.json") for url in seen)
    assert errors == []
