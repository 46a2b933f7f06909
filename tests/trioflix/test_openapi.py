"""The OpenAPI document: it describes every JSON route, and a served instance keeps to it.

schemathesis generates requests from the document served by a real
``trioflix serve`` (PostgreSQL, as in production) and checks each answer: never a
5xx, a status the document lists, the content type and body it says. A stateful
run follows the document's links: register, log in; create a key, read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err
from schemathesis.engine import events, from_schema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.api import auth
from tests.ports import free_port
from tests.trioflix.test_cli import TRIOFLIX, _env, _running
from tests.waiting import wait_healthy
from trioflix import __version__
from trioflix.api.contract import NOT_JSON
from trioflix.api.openapi import document
from trioflix.app import create_app
from trioflix.config import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from schemathesis import Case
    from schemathesis.schemas import BaseSchema

    from tests.conftest import PostgresCluster

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,
]
# Not negative_data_rejection: it expects a 4xx for a query parameter the document
# does not name, which every route ignores by design, and for a request "without"
# its Authorization header, which this harness always adds. Negative examples are
# still sent and checked for 5xx and conformance above; the routes' refusals of bad
# bodies and ids are asserted one by one in tests/trioflix/test_bad_input.py.
# A resource a link says was created (a new key) must be there to read.
STATEFUL_CHECKS = [*CHECKS, ensure_resource_availability]
# Bounded so the whole module runs in about a minute on a loaded machine; the
# same examples every run (derandomize), none replayed from a local database.
EXAMPLES_PER_OPERATION = 10
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 6
SEED = 20261206
_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
CHANNEL = "contract"  # the signed-up user's, whose token every request carries
OTHER_USER = "viewer"
_RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def _routes() -> set[tuple[str, str]]:
    """The app's HTTP routes as ``(METHOD, rule)``: every method but HEAD and OPTIONS,
    which the router adds to every route."""
    app = create_app(Settings(data_dir=Path("/nonexistent"), jwt_secret="x" * 64))
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_json_route_is_documented_and_nothing_else() -> None:
    routes = _routes()
    excluded = {rule for _, rule in routes if rule in NOT_JSON}
    app_ops = {
        (method, _RULE_PARAM.sub(r"{\1}", rule)) for method, rule in routes if rule not in excluded
    }
    documented = {
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
    }
    assert sorted(app_ops - documented) == [], "JSON routes missing from the document"
    assert sorted(documented - app_ops) == [], "documented routes the app does not have"
    assert sorted(set(NOT_JSON) - excluded) == [], "excluded routes the app does not have"


def test_document_is_openapi_3_1_with_the_package_version() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"] == __version__
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.validate()  # against the OpenAPI 3.1 schema; raises what does not fit
    results = list(loaded.get_all_operations())
    assert [result.err() for result in results if isinstance(result, Err)] == []
    assert len(results) == sum(len(operations) for operations in doc["paths"].values())


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    token: str


@pytest.fixture(scope="module")
def served(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """``trioflix serve`` on PostgreSQL, with every optional API on, and two users: the
    one whose token the requests carry, and another."""
    workdir = tmp_path_factory.mktemp("openapi")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(
        workdir / "data",
        DATABASE_URL=pg_cluster.url(pg_cluster.create_database()),
        JWT_SECRET="openapi-secret-" + "x" * 64,
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_DEV_PAYMENTS="on",
        TRIOFLIX_CLUSTER_API="on",
        TRIOFLIX_PAYMENT_WEBHOOK_SECRET="whsec-openapi-" + "x" * 32,
    )
    log = workdir / "stderr.log"
    with _running([*TRIOFLIX, "serve", "--http", f"127.0.0.1:{port}"], env, log) as proc:
        wait_healthy(url, proc, log=log)
        tokens = []
        for name in (CHANNEL, OTHER_USER):
            answer = httpx.post(
                f"{url}/api/auth/register",
                json={"username": name, "password": "correct horse"},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            tokens.append(answer.json()["token"])
        yield Served(url=url, token=tokens[0])
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


def test_served_document_is_the_built_one(served: Served) -> None:
    answer = httpx.get(f"{served.url}/api/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == document()


@pytest.fixture(scope="module")
def api_schema(served: Served) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{served.url}/api/openapi.json", timeout=30)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@_SETTINGS
def test_api_keeps_to_its_document(case: Case[Any], served: Served) -> None:
    # In the user's own room, with the other user as the target, the chat routes
    # answer what succeeds too, not only 404 for a room or user that does not exist.
    for name, value in (("channel", CHANNEL), ("user", OTHER_USER)):
        if name in case.path_parameters:
            case.path_parameters[name] = value
    case.call_and_validate(headers=auth(served.token), checks=CHECKS, timeout=30)


def test_stateful_links(served: Served) -> None:
    """register -> log in, create a key -> read it: the document's links hold.

    Through schemathesis's engine, as its command line runs it: a stateful run
    against a server whose data changes under it replays differently, which the
    engine expects and Hypothesis' own state machine runner treats as an error.
    """
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": auth(served.token),
            "request-timeout": 30,
            "workers": 1,
            "generation": {"max-examples": STATEFUL_EXAMPLES, "deterministic": True},
            "checks": {
                "enabled": False,
                **{check.__name__: {"enabled": True} for check in STATEFUL_CHECKS},
            },
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": False},
                "stateful": {
                    "enabled": True,
                    "max-steps": STATEFUL_STEPS,
                    # The document's links alone: links schemathesis would infer from
                    # the answers could reach a key without them.
                    "inference": {"algorithms": []},
                },
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json", config=config)
    calls: set[tuple[str, str, int]] = set()
    errors: list[str] = []
    failures: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                node = recorder.cases[case_id]
                if (
                    interaction.response is not None
                    and node.transition is not None
                    and node.is_transition_applied
                ):
                    label = node.value.operation.label
                    calls.add((node.transition.id, label, interaction.response.status_code))
            failures += [
                f"{check.name}: {check.failure_info.failure.title}"
                for checks in recorder.checks.values()
                for check in checks
                if check.failure_info is not None
            ]
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            errors.append(repr(event.exception))
        elif isinstance(event, events.EngineFinished):
            failures += [f"{failure.title}: {failure.message}" for failure in event.failures]
    assert errors == []
    assert failures == []
    # Requests made from a link, with what the answer it follows gave them.
    # Which of a created key's links (GetKey, UpdateKey, ...) the seeded run follows
    # depends on the whole document; any of them answering 200 shows that the link
    # carried the new key's id.
    logged_in = "POST /api/auth/register -> [201] LogIn -> POST /api/auth/login"
    assert (logged_in, "POST /api/auth/login", 200) in calls, sorted(calls)
    key_links = {
        label
        for transition, label, status in calls
        if transition.startswith("POST /api/streaming/keys -> [201] ")
        and label.endswith("/api/streaming/keys/{key_id}")
        and status == 200
    }
    assert key_links, sorted(calls)
