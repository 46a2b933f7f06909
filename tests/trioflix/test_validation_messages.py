"""msgspec's validation errors, each kind, as the sentences the API answers with."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import pytest

from trioflix.api._http import Body, human_validation_error

Tag = Annotated[str, msgspec.Meta(max_length=2)]


class Sample(Body):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=4)] = "a"
    code: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "EUR"
    slug: Annotated[str, msgspec.Meta(pattern="^[a-z]+$")] = "a"
    count: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    ratio: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    tags: Annotated[list[Tag], msgspec.Meta(max_length=2)] = msgspec.field(default_factory=list)
    kind: Literal["a", "b"] = "a"
    note: str | None = None
    inner: Inner | None = None


class Inner(Body):
    title: str


CASES = [
    (b'{"name": ""}', "name", "Name must not be empty."),
    (b'{"name": "abcde"}', "name", "Name must be at most 4 characters."),
    (b'{"code": "eur"}', "code", "Code must be a three-letter currency code such as EUR."),
    (b'{"slug": "A"}', "slug", "Slug must be in the form ^[a-z]+$."),
    (b'{"count": 0}', "count", "Count must be at least 1."),
    (b'{"count": 6}', "count", "Count must be at most 5."),
    (b'{"ratio": 0}', "ratio", "Ratio must be more than 0.0."),
    (b'{"count": 1.5}', "count", "Count must be a whole number."),
    (b'{"tags": ["a", "b", "c"]}', "tags", "Tags must be at most 2 items."),
    (b'{"tags": ["abc"]}', "tags[0]", "Tags item 1 must be at most 2 characters."),
    (b'{"kind": "c"}', "kind", "Kind is not one of the allowed values."),
    (b'{"note": 1}', "note", "Note must be text or null."),
    (b'{"name": null}', "name", "Name must be text."),
    (b'{"inner": {}}', "inner.title", "Title is required."),
    (b'{"inner": {"title": "x", "x": 1}}', "inner.x", "“x” is not a field this accepts."),
    (b'"text"', None, "The body must be a JSON object."),
]


@pytest.mark.parametrize(("body", "field", "message"), CASES)
def test_each_kind_of_error_reads_as_a_sentence(
    body: bytes, field: str | None, message: str
) -> None:
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.json.decode(body, type=Sample, strict=True)
    assert human_validation_error(str(raised.value)) == (field, message)


def test_an_error_of_an_unforeseen_shape_keeps_msgspec_text() -> None:
    assert human_validation_error("Something new - at `$.name`") == (
        "name",
        "Name is not valid (Something new).",
    )
    assert human_validation_error("Something new") == (
        None,
        "The body is not what this accepts (Something new).",
    )
