"""GET /openapi.json: a valid OpenAPI 3.1 document that names every public route, with the
enums, limits and error codes of the code that validates and answers (so that they cannot
drift apart), and GET /docs, the reference page over it."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import Mount, Route

from opendance import errors
from opendance.api import openapi
from opendance.api.app import create_app
from opendance.api.ark_errors import ark_error_response
from opendance.api.openai_errors import openai_error_response
from opendance.domain import presets
from opendance.domain.task_states import PUBLIC_STATUS_STATES
from opendance.services import ark_params, ark_tasks, openai_fields, task_lists
from opendance.services.openai_door import VARIANTS
from opendance.services.validation import MAX_SEED
from opendance.web.routes import web_routes
from tests.support.live import LiveServer

DOC = openapi.build_document()
SCHEMAS = DOC["components"]["schemas"]


def _param(path: str, method: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        p for p in DOC["paths"][path][method]["parameters"] if p["name"] == name
    )
    return found


def test_served_document_is_valid_openapi_3_1(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        response = client.get("/openapi.json")
        again = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == again.content == openapi.document_bytes()
    served = orjson.loads(response.content)
    assert served["openapi"].startswith("3.1")
    validate(served, cls=OpenAPIV31SpecValidator)
    assert set(served["webhooks"]) == {"seedanceTaskEnded", "openaiVideoEnded", "arkTaskEnded"}


def test_every_route_of_the_app_is_in_the_document(api_only_server: LiveServer) -> None:
    assert api_only_server.ctx is not None
    app = create_app(api_only_server.ctx)
    pages = {route.path for route in web_routes() if isinstance(route, Route)}
    missing = []
    for route in app.routes:
        if isinstance(route, Mount) or route.path in pages:  # type: ignore[attr-defined]
            continue  # the dashboard's pages and static files: not the API
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in route.methods or ():
            documented = set(DOC["paths"].get(path, {}))
            if "get" in documented:
                documented.add("head")  # Starlette answers HEAD wherever it answers GET
            if method.lower() not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def test_every_operation_names_its_errors_in_its_door_shape() -> None:
    shapes = {"/v1/videos": "OpenAIError", openapi.ARK_TASKS: "ArkError"}
    for path, item in DOC["paths"].items():
        want = next((s for prefix, s in shapes.items() if path.startswith(prefix)), None)
        for operation in item.values():
            for status, answer in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith(want or "SeedanceError"), (path, status)


def _fields(name: str) -> dict[str, Any]:
    """A request body's fields, each optional one without its null (null is absent)."""
    schema = SCHEMAS[name]
    fields = {}
    for field, prop in schema["properties"].items():
        if field not in schema["required"]:
            prop, null = prop["anyOf"]
            assert null == {"type": "null"}
        fields[field] = prop.get("anyOf", [prop])[0] if "anyOf" in prop else prop
    return fields


def test_enums_and_limits_are_the_validators_constants() -> None:
    generate = _fields("GenerateRequest")
    assert generate["aspect_ratio"]["enum"] == list(presets.ASPECT_RATIOS)
    assert generate["resolution"]["enum"] == list(presets.RESOLUTIONS)
    assert generate["duration"]["oneOf"][0]["enum"] == list(presets.DURATIONS)
    assert generate["prompt"]["maxLength"] == presets.MAX_PROMPT_CHARS
    assert generate["image_urls"]["maxItems"] == presets.MAX_IMAGES
    assert generate["seed"]["maximum"] == MAX_SEED
    video = _fields("VideoCreate")
    assert set(video) == set(openai_fields.FIELDS)
    assert video["seconds"]["oneOf"][0]["enum"] == [str(d) for d in presets.DURATIONS]
    assert video["seed"]["maximum"] == MAX_SEED
    assert video["model"]["maxLength"] == openai_fields.MAX_MODEL_CHARS
    ark = _fields("ArkCreate")
    assert set(ark) == set(ark_params._TAKEN)
    assert ark["ratio"]["enum"] == [*presets.ASPECT_RATIOS, presets.ADAPTIVE]
    assert ark["duration"]["enum"] == list(presets.DURATIONS)
    assert ark["seed"]["minimum"] == ark_params.RANDOM_SEED
    assert ark["seed"]["maximum"] == MAX_SEED
    assert _param("/v1/tasks", "get", "limit")["schema"]["maximum"] == task_lists.MAX_LIMIT
    assert _param("/v1/tasks", "get", "limit")["schema"]["default"] == task_lists.DEFAULT_LIMIT
    assert _param("/v1/tasks", "get", "status")["schema"]["enum"] == list(PUBLIC_STATUS_STATES)
    assert _param("/v1/videos", "get", "limit")["schema"]["maximum"] == task_lists.MAX_LIMIT
    page_size = _param(openapi.ARK_TASKS, "get", "page_size")["schema"]
    assert page_size["maximum"] == ark_tasks.MAX_PAGE_SIZE
    assert page_size["default"] == ark_tasks.DEFAULT_PAGE_SIZE
    page_num = _param(openapi.ARK_TASKS, "get", "page_num")["schema"]
    assert page_num["maximum"] == ark_tasks.MAX_PAGE_NUM
    variant = _param("/v1/videos/{video_id}/content", "get", "variant")["schema"]
    assert variant["enum"] == list(VARIANTS)


@pytest.mark.parametrize("error", openapi.sample_errors(), ids=lambda e: type(e).__name__)
def test_every_error_is_documented_in_every_door(error: errors.ApiError) -> None:
    assert error.code in SCHEMAS["SeedanceError"]["properties"]["error"]["enum"]
    openai_answer = openai_error_response(error, {})
    body = orjson.loads(openai_answer.body)["error"]
    openai_props = SCHEMAS["OpenAIError"]["properties"]["error"]["properties"]
    assert body["code"] in openai_props["code"]["anyOf"][0]["enum"]
    assert body["type"] in openai_props["type"]["enum"]
    ark_answer = ark_error_response(error)
    body = orjson.loads(ark_answer.body)["error"]
    ark_props = SCHEMAS["ArkError"]["properties"]["error"]["properties"]
    assert body["code"] in ark_props["code"]["enum"]
    assert body["type"] in ark_props["type"]["enum"]
    # every door's create documents the status its door answers this error with
    if isinstance(error, errors.NotFound):
        return  # a create names no task; the routes that do document 404
    for path, status in (
        ("/v1/generate", error.status),
        ("/v1/videos", openai_answer.status_code),
        (openapi.ARK_TASKS, ark_answer.status_code),
    ):
        assert str(status) in DOC["paths"][path]["post"]["responses"], (path, status)


def test_docs_page_loads_only_vendored_assets(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith("/") for source in sources)
        for source in sources:
            assert client.get(source).status_code == 200, source
        for licence in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
            assert client.get(f"/static/swagger-ui/{licence}").status_code == 200, licence
