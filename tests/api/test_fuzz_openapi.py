"""Schemathesis over the whole OpenAPI against a real `threshold serve`: no input is a 5xx, and every error is
RFC 9457 problem+json.

Per operation: schemathesis' coverage phase (every boundary and every way to break each parameter and field, once),
then a fixed budget of random examples per generation mode (valid data, then data that breaks the schema),
derandomized, so the verdict never depends on the machine's speed. Partner, member, driver and operator calls carry
their credentials; half the valid examples, and every coverage case, use the seeded home, station, driver and
delivery, and a window an hour long, so fuzzing reaches past 401, 404 and the window checks. Times and days are
drawn near the edges (the year 1, 2000, 2100, 9999) with any offset.

`make test` runs it with 8 examples on both backends (about a minute); `make fuzz` runs it long, with every
schemathesis check. THRESHOLD_FUZZ_EXAMPLES (examples per operation and mode), THRESHOLD_FUZZ_BACKENDS
(sqlite,postgresql), THRESHOLD_FUZZ_CHECKS=all and THRESHOLD_FUZZ_OPERATIONS (a regular expression on
"METHOD /path") tune it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.formats import get_default_format_strategies

from servers import Server, serving

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("THRESHOLD_FUZZ_EXAMPLES", "8"))
ALL_CHECKS = os.environ.get("THRESHOLD_FUZZ_CHECKS", "") == "all"
BACKENDS = [b for b in os.environ.get("THRESHOLD_FUZZ_BACKENDS", os.environ.get("THRESHOLD_TEST_BACKENDS",
                                                                             "sqlite,postgresql")).split(",") if b]
ONLY = re.compile(os.environ.get("THRESHOLD_FUZZ_OPERATIONS", ""))
# Live MJPEG views stream until the client leaves; nothing about them is input a fuzzer could reach.
STREAMING = {("GET", "/v1/homes/{home_id}/sessions/{session_id}/live"), ("GET", "/v1/sessions/{session_id}/live")}
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
WINDOWS = [("window_start", "window_end"), ("starts_at", "ends_at"), ("start", "end")]
# Sign-ins, the guest's own calls (the link token is in the body) and signed clip links carry no credentials.
OPEN = {"/v1/driver/token", "/v1/household/token", "/v1/ops/token", "/v1/guest/entries",
        "/v1/guest/entries/{session_id}/finish", "/v1/sessions/{session_id}/clip", "/healthz"}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server for the fuzzer; credential limits are out of the way (they are tested on their own) and tokens
    outlive a long run."""
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with serving(request.param, tmp, homes=2, drivers=1, token_ttl_seconds="86400",
                 credential_failures_per_account="1000000", credential_failures_per_address="1000000",
                 credential_failures_per_account_overall="1000000") as s:
        yield s


def instants(now: datetime) -> st.SearchStrategy[str]:
    """RFC 3339 times clustered around a few bases (soon, the API's edges, datetime's own edges) with any offset:
    near 9999-12-31 a negative offset has no UTC equivalent, near 0001-01-01 a positive one."""
    bases = [now.replace(tzinfo=None, microsecond=0) + timedelta(hours=2), datetime(9999, 12, 31, 22),
             datetime(1, 1, 1, 2), datetime(2100, 12, 31, 23), datetime(2000, 1, 1)]

    def render(base: datetime, minutes: int, offset: int, zulu: bool) -> str:
        try:
            wall = base + timedelta(minutes=minutes)
        except OverflowError:
            wall = base
        zone = UTC if zulu else timezone(timedelta(minutes=offset))
        return wall.replace(tzinfo=zone).isoformat().replace("+00:00", "Z")

    return st.builds(render, st.sampled_from(bases), st.integers(-3 * 60, 3 * 60), st.integers(-14 * 60, 14 * 60),
                     st.booleans())


def days(today: date) -> st.SearchStrategy[str]:
    """Days clustered around today and the API's and date's edges."""
    bases = [today, date(2000, 1, 1), date(2100, 12, 31), date(1, 1, 1), date(9999, 12, 31)]

    def render(base: date, delta: int) -> str:
        try:
            return (base + timedelta(days=delta)).isoformat()
        except OverflowError:
            return base.isoformat()

    return st.builds(render, st.sampled_from(bases), st.integers(-3, 3))


@pytest.fixture(scope="module", autouse=True)
def extreme_dates() -> Iterator[None]:
    """Generate date-time and date values near the edges (schemathesis' own rarely leave the middle of the
    calendar), and put its own generators back afterwards."""
    now = datetime.now(UTC)
    schemathesis.openapi.format("date-time", instants(now))
    schemathesis.openapi.format("date", days(now.date()))
    yield
    defaults = get_default_format_strategies()
    schemathesis.openapi.format("date-time", defaults["date-time"])
    schemathesis.openapi.format("date", defaults["date"])


def credentials(server: Server) -> dict[str, dict[str, str]]:
    """Headers per kind of caller."""
    with server.client() as c:
        r = c.post("/v1/ops/token", json={"email": server.world["operator_email"], "password": server.password})
        r.raise_for_status()
        operator = r.json()["access_token"]
    return {"partner": {"Authorization": f"Bearer {server.world['api_key']}"},
            "member": {"Authorization": f"Bearer {server.member_token()}"},
            "driver": {"Authorization": f"Bearer {server.driver_token()}"},
            "operator": {"Authorization": f"Bearer {operator}"}, "none": {}}


def caller(path: str) -> str:
    """Who may call this path."""
    if path in OPEN:
        return "none"
    if path.startswith("/v1/driver/"):
        return "driver"
    if path.startswith("/v1/ops/"):
        return "operator"
    if path.startswith(("/v1/homes", "/v1/household/")):
        return "member"
    return "partner"


def seeded_ids(server: Server) -> dict[str, str]:
    """Ids of things that exist and that the callers may see: the first home and its front door, the station, the
    driver, and a delivery there for that driver."""
    home, driver = server.world["homes"][0], server.world["drivers"][0][0]
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    with server.client(headers={"X-API-Key": server.world["api_key"]}) as c:
        r = c.post("/v1/deliveries", json={
            "home_id": home["id"], "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2))
            .isoformat(), "packages": [{"barcode": "FUZZ0001", "size": "S", "weight_g": 500}], "driver_id": driver})
        r.raise_for_status()
    return {"home_id": home["id"], "entry_point_id": home["front_door"], "station_id": str(server.world["station_id"]),
            "driver_id": driver, "delivery_id": r.json()["id"]}


def problem_json(ctx: Any, response: Any, case: Any) -> None:
    """Every error is application/problem+json with a type, a title, the status and a stable code."""
    if response.status_code < 400:
        return
    kind = response.headers.get("content-type", [""])
    kind = kind[0] if isinstance(kind, list) else kind
    assert kind.startswith("application/problem+json"), f"{response.status_code} answered as {kind!r}"
    body = response.json()
    assert isinstance(body, dict), "the problem is not a JSON object"
    assert body.get("status") == response.status_code, f"status {body.get('status')} in a {response.status_code}"
    assert isinstance(body.get("code"), str) and body["code"], "no stable code"
    assert isinstance(body.get("type"), str) and isinstance(body.get("title"), str), "no type or title"


def with_known_ids(case: Any, ids: dict[str, str]) -> Any:
    """Point the case's well-formed ids (path, query, top-level body fields) at things that exist, so that it
    reaches past 404 into the code that reads its other values."""
    for values in (case.path_parameters, case.query, case.body if isinstance(case.body, dict) else None):
        for name, value in list((values or {}).items()):
            if name in ids and isinstance(value, str) and UUID.fullmatch(value):
                values[name] = ids[name]
    return case


def with_plausible_window(case: Any) -> Any:
    """End a window an hour after its start, in the start's offset, when both are times: two independent times
    almost never make a valid window, and a window that passes the schema is where a far time meets the code."""
    body = case.body if isinstance(case.body, dict) else {}
    for start, end in WINDOWS:
        try:
            begins, _ = (datetime.fromisoformat(str(body[k]).replace("Z", "+00:00")) for k in (start, end))
            body[end] = (begins + timedelta(hours=1)).isoformat()
        except (KeyError, ValueError, OverflowError):
            continue
    return case


def checks() -> list[Any] | None:
    """The checks each response must pass besides problem_json (None: every check schemathesis has)."""
    return None if ALL_CHECKS else [not_a_server_error]


# Schema-valid data the domain refuses is a 422 by design (a window already over, a reused Idempotency-Key, a
# day the station does not serve), so "valid data is accepted" cannot hold for this API.
EXCLUDED = [positive_data_acceptance]


def call(case: Any, url: str, headers: dict[str, str]) -> None:
    """Send one case with the caller's credentials and check the answer.

    The credentials go in as explicit headers, so that schemathesis' auth checks know them for what they are
    and probe the operation without them. A partner signs with `Authorization: Bearer <key>`; the generated
    X-API-Key header (which would win over it) is dropped.
    """
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "x-api-key"}
    case.call_and_validate(base_url=url, headers=headers, checks=checks(), additional_checks=[problem_json],
                           excluded_checks=EXCLUDED, timeout=60)


def boundaries(schema: Any, operation: Any, url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Schemathesis' coverage phase: every boundary and every way to break each parameter and field, once."""
    failures = []
    config = schema.config.generation_for(operation=operation, phase="coverage")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for case in schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config):
        try:
            with_plausible_window(with_known_ids(case, ids))
            call(case, url, headers)
        except (Exception, FailureGroup) as exc:  # one report per case: the phase is finite
            failures.append(f"{operation.label} (coverage): {exc}")
    return failures


def fuzz(operation: Any, mode: GenerationMode, url: str, headers: dict[str, str], ids: dict[str, str]) -> None:
    """Schemathesis' fuzzing phase: the operation's budget of random examples in one mode; raises on the first
    failing response. Half of the valid examples use the seeded ids."""
    strategy = operation.as_strategy(mode)
    if mode == GenerationMode.POSITIVE:
        strategy = st.one_of(strategy, strategy.map(lambda case: with_plausible_window(with_known_ids(case, ids))))

    # No shrinking: a failing response is reported as found, and a long shrink over HTTP would cost minutes.
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=strategy)
    def examples(case: Any) -> None:
        call(case, url, headers)

    examples()


def test_no_input_is_a_server_error_and_every_error_is_problem_json(server: Server) -> None:
    """Every operation of the OpenAPI, its boundaries and random valid and invalid input, as each kind of caller."""
    schema = schemathesis.openapi.from_dict(httpx.get(f"{server.url}/openapi.json").json())
    # Credentials are the fuzzer's own (sent as explicit headers); an unknown query parameter is ignored, as HTTP
    # APIs do, so neither is generated as "invalid data".
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    headers, ids = credentials(server), seeded_ids(server)
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in STREAMING or not ONLY.search(operation.label):
            continue
        operations += 1
        who = headers[caller(operation.path)]
        failures += boundaries(schema, operation, server.url, who, ids)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, server.url, who, ids)
            except Unsatisfiable:
                continue  # no parameter and no body: nothing to break
            except (Exception, FailureGroup) as exc:  # every operation runs even after one fails; all are reported
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    print(f"fuzzed {operations} operations ({EXAMPLES} examples per mode) in {time.monotonic() - started:.1f} s")
    assert operations > (50 if not ONLY.pattern else 0), "the OpenAPI lost its operations"
    assert not failures, "\n\n".join(failures)
    # The server survived all of it and still answers.
    assert httpx.get(f"{server.url}/healthz").status_code == 200
