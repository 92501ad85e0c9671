"""The API's OpenAPI contract, read without a fuzzer: the statuses of each route, the error JSON,
the request rules in the schema, answers that match their schemas, forms, and the docs page."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.ui.test_api import API, served  # noqa: F401 (a fixture)

ROUTES = {"collections": ("get", {401, 403, 500, 503, 507}),
          "embed": ("post", {400, 401, 403, 404, 413, 422, 500, 503, 507}),
          "search": ("post", {400, 401, 403, 404, 413, 422, 500, 503, 507}),
          "classify": ("post", {400, 401, 403, 404, 409, 413, 422, 500, 503, 507})}


@pytest.fixture
def schema(served) -> dict[str, Any]:  # noqa: F811
    return dict(served[0].get(f"{API}/openapi.json").json())


def _validator(schema: dict[str, Any], component: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"#/components/schemas/{component}",
                                 "components": schema["components"]})


def test_every_route_states_each_status_it_can_answer_with_the_error_json(schema) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for route, (method, statuses) in ROUTES.items():
        op = schema["paths"][f"{API}/{route}"][method]
        assert {int(s) for s in op["responses"]} == {200, *statuses}, route
        for status in statuses:
            answer = op["responses"][str(status)]
            assert answer["content"]["application/json"]["schema"] == error, (route, status)
            assert answer["description"], (route, status)
        assert op["security"] == [{"bearer": []}, {}]  # a key when the server has one
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"} and "exit_code" in detail["properties"]
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "Retry-After" in schema["paths"][f"{API}/search"]["post"]["responses"]["503"]["headers"]


def test_the_request_rules_live_in_the_schema(schema) -> None:
    from jsonschema import Draft202012Validator

    content = schema["paths"][f"{API}/search"]["post"]["requestBody"]["content"]
    formats = Draft202012Validator.FORMAT_CHECKER
    body = Draft202012Validator(content["application/json"]["schema"], format_checker=formats)
    form = Draft202012Validator(content["multipart/form-data"]["schema"], format_checker=formats)
    fine = {"collection": "c", "vector": [0.5], "k": 50}
    assert body.is_valid(fine) and body.is_valid({"collection": "c", "text": "boot", "via": "d",
                                                  "image": None})
    for bad in ({"collection": "", "vector": [0.5]}, {"collection": "c"},
                {"collection": "c", "vector": [0.5], "point_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
                {"collection": "c", "vector": [0.5], "via": "d"}, {"collection": "c", "text": " \t"},
                {"collection": "c", "vector": [0.5], "k": 51}, {"collection": "c", "vector": [0.5], "k": 0},
                {"collection": "c", "point_id": "x"}):
        assert not body.is_valid(bad), bad
    assert form.is_valid({"collection": "c", "file": "…", "k": 3})
    assert not form.is_valid({"collection": "c", "file": "…", "text": "boot"})
    assert not form.is_valid({"collection": "c", "point_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                              "via": "d"})
    embed = schema["paths"][f"{API}/embed"]["post"]["requestBody"]["content"]["application/json"]
    assert not Draft202012Validator(embed["schema"]).is_valid({"collection": "c", "image": "x", "text": "y"})


def test_answers_match_the_schemas_they_are_declared_with(served, schema, query_png: Path) -> None:  # noqa: F811
    client, _, b = served
    image = base64.b64encode(query_png.read_bytes()).decode()
    answers = [("Collections", client.get(f"{API}/collections")),
               ("Embedded", client.post(f"{API}/embed", json={"collection": b.collection, "image": image})),
               ("Found", client.post(f"{API}/search", json={"collection": b.collection, "image": image,
                                                            "fields": ["label", "thumbnail"]})),
               ("Classified", client.post(f"{API}/classify", json={"collection": b.collection,
                                                                   "image": image, "k": 5})),
               ("Error", client.post(f"{API}/search", json={"collection": "nope", "vector": [1.0]})),
               ("Error", client.post(f"{API}/search", json={"collection": b.collection})),
               ("Error", client.post(f"{API}/search", json={"collection": b.collection, "vector": [1.0]}))]
    assert [a.status_code for _, a in answers] == [200, 200, 200, 200, 404, 400, 422]
    for component, answer in answers:
        errors = list(_validator(schema, component).iter_errors(answer.json()))
        assert not errors, (component, answer.json(), errors[0].message if errors else None)


def _parts(*fields: tuple[str, str]) -> list[tuple[str, tuple[None, str]]]:
    """Multipart form fields (no file), in order, repeated names kept."""
    return [(name, (None, value)) for name, value in fields]


def test_a_form_takes_lists_as_repeated_parts_and_one_query(served) -> None:  # noqa: F811
    client, _, b = served
    vector = [1.0] + [0.0] * 31
    found = client.post(f"{API}/search", files=_parts(
        ("collection", b.collection), *[("vector", str(x)) for x in vector], ("fields", "label"),
        ("fields", "split"), ("k", "3")))
    assert found.status_code == 200, found.text
    hits = found.json()["hits"]
    assert len(hits) == 3 and set(hits[0]["payload"]) == {"label", "split"}
    both = client.post(f"{API}/search", data={"collection": b.collection, "text": "boot"},
                       files={"file": ("q.png", b"\x89PNG", "image/png")})
    assert both.status_code == 400 and "give exactly one of" in both.json()["error"]["message"]
    twice = client.post(f"{API}/search", files=_parts(("collection", b.collection), ("collection", "x"),
                                                      ("vector", "1")))
    assert twice.status_code == 400 and "`collection` is given 2 times" in twice.json()["error"]["message"]


def test_the_docs_page_shows_inline_code_as_code(served) -> None:  # noqa: F811
    page = served[0].get(f"{API}/docs").text
    assert "`" not in page  # no raw backticks: every `x` became <code>x</code>
    assert "With <code>text</code> only" in page and "<code>{\"error\":" in page
    assert "<b>422</b>" in page and "<b>409</b>" in page  # the statuses each route answers
