"""The kernel's shared plumbing: hook registries, bounded retries, advisory locks, JSON text,
unstorable text and the read-only admin, each written once and used by every app."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, connections, transaction
from django.test import RequestFactory

from cdp_project.core import retries
from cdp_project.core.errors import ProblemError
from cdp_project.core.hooks import Registry
from cdp_project.core.jsonvalues import canonical_json, compact_json, compact_utf8, json_size, json_type_name
from cdp_project.core.locks import advisory_key, advisory_locks
from cdp_project.core.text import unstorable_reason
from channels.models import Endpoint, EndpointHistory
from identity.locks import identifier_lock_key
from identity.models import Identifier, IdentityConflict
from ingest.models import Event, IdempotencyKey, ProfileUpdate, QuarantinedItem, Violation
from jobs.models import Job
from profiles.models import MergeLedgerEntry, Profile
from runtime.models import Participant
from tenants.models import RateBudget

# --- hook registries -----------------------------------------------------------------------


def test_a_registry_iterates_in_key_order_and_the_last_registration_wins():
    hooks: Registry[str] = Registry("test hook")
    hooks.register("b", "second")
    hooks.register("a", "first")
    hooks.register("b", "again")
    assert list(hooks) == ["a", "b"] and list(hooks.values()) == ["first", "again"]
    hooks.unregister("a")
    hooks.unregister("missing")
    assert dict(hooks) == {"b": "again"}


def test_a_unique_registry_refuses_another_value_for_a_taken_key_but_not_the_same_one():
    def handler() -> None: ...

    kinds: Registry[object] = Registry("job kind", unique=True)
    kinds.register("export", handler)
    kinds.register("export", handler)  # AppConfig.ready() may run twice
    with pytest.raises(ValueError, match="job kind 'export' is taken"):
        kinds.register("export", lambda: None)
    assert kinds["export"] is handler


# --- bounded retries -------------------------------------------------------------------------


def _insert_budget_rows(attempts: list[int], *, clash_until: int) -> str:
    with transaction.atomic(durable=True):
        attempts.append(1)
        RateBudget.objects.create(key_prefix=f"k{len(attempts)}", minute=1)
        prefix = "taken" if len(attempts) <= clash_until else "free"
        RateBudget.objects.create(key_prefix=prefix, minute=1)
        return prefix


@pytest.mark.django_db(transaction=True)
def test_a_unique_violation_is_retried_only_on_a_constraint_registered_as_racy():
    RateBudget.objects.create(key_prefix="taken", minute=1)
    attempts: list[int] = []
    with pytest.raises(IntegrityError):
        retries.run_with_retries(lambda: _insert_budget_rows(attempts, clash_until=1))
    assert len(attempts) == 1, "an unregistered constraint is a bug, not a race"

    retries.retryable_unique_register(
        constraint="ratebudget_key_minute_unique", sqlite_columns="tenants_ratebudget.key_prefix"
    )
    try:
        attempts.clear()
        assert retries.run_with_retries(lambda: _insert_budget_rows(attempts, clash_until=1)) == "free"
        assert len(attempts) == 2
        assert set(RateBudget.objects.values_list("key_prefix", flat=True)) == {"taken", "k2", "free"}

        attempts.clear()
        with pytest.raises(ProblemError) as raised:
            retries.run_with_retries(lambda: _insert_budget_rows(attempts, clash_until=9), attempts=2)
        assert len(attempts) == 2
        assert (raised.value.status, raised.value.code, raised.value.headers) == (503, "busy", {"Retry-After": "1"})
    finally:
        retries._retryable_unique.unregister("ratebudget_key_minute_unique")


# --- advisory locks --------------------------------------------------------------------------


def test_an_advisory_key_is_a_signed_32_bit_hash_identity_and_channels_share():
    key = advisory_key(7, "EMAIL", "ann@example.com")
    assert -(2**31) <= key < 2**31
    assert key == identifier_lock_key(tenant_id=7, type="EMAIL", value="ann@example.com")
    assert key != advisory_key(8, "EMAIL", "ann@example.com")


def _try_lock_elsewhere(namespace: int, key: int) -> bool:
    """Whether another connection can take the lock now (it gives it back at once)."""
    result: list[bool] = []

    def attempt() -> None:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
                (taken,) = cursor.fetchone()
                if taken:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])
                result.append(taken)
        finally:
            other.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=10)
    return result[0]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_advisory_locks_hold_every_key_until_the_transaction_ends():
    namespace, keys = 0x7E, [advisory_key("a"), advisory_key("b"), advisory_key("c")]
    with transaction.atomic():
        advisory_locks(namespace, [keys[2], keys[0], keys[2]])
        advisory_locks(namespace + 1, [keys[1]])
        assert not _try_lock_elsewhere(namespace, keys[0]) and not _try_lock_elsewhere(namespace, keys[2])
        assert not _try_lock_elsewhere(namespace + 1, keys[1])
        assert _try_lock_elsewhere(namespace, keys[1]), "a key of another namespace stays free"
    assert _try_lock_elsewhere(namespace, keys[0]), "the transaction's end gives the locks back"


@pytest.mark.django_db
def test_taking_no_advisory_lock_runs_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        advisory_locks(0x7E, [])
    if connection.vendor != "postgresql":
        with django_assert_num_queries(0):
            advisory_locks(0x7E, [1, 2])


# --- JSON text -------------------------------------------------------------------------------


def test_canonical_json_is_the_same_whatever_the_key_order():
    assert canonical_json({"b": 1, "a": {"d": [1, "é"], "c": None}}) == '{"a":{"c":null,"d":[1,"é"]},"b":1}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})
    assert compact_json({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'
    assert json_size({"a": "é"}) == len('{"a":"é"}'.encode())


@pytest.mark.parametrize(
    "value",
    [
        "".join(map(chr, range(1, 0x800))),  # every escape, then two-byte characters
        {"line": "\u2028\u2029", "wide": "😀\uffff\U0010ffff", "marks": ['"', "\\", "/"], "nested": [{}, [], None]},
        {"edges": [2**63 - 1, -(2**63), 2**64 - 1], "beyond": [2**64, -(2**63) - 1]},  # orjson refuses the last two
        {1: "an integer key"},  # orjson refuses it; the standard encoder writes it as "1"
    ],
)
def test_json_size_weighs_the_compact_utf8_text_of_the_standard_encoder(value):
    assert json_size(value) == len(compact_json(value).encode("utf-8"))


def test_json_size_weighs_floats_in_their_shortest_form_and_refuses_what_json_refuses():
    assert compact_utf8([1e-07, 1.52e-05, 0.1, 1e16, 2.5]) == b"[1e-7,0.0000152,0.1,1e+16,2.5]"
    assert json_size({"n": 1e-07}) == len(b'{"n":1e-7}')
    for value in (dt.datetime(2026, 12, 2, tzinfo=dt.UTC), {"at": dt.date(2026, 12, 2)}):
        with pytest.raises(TypeError):
            compact_json(value)
        with pytest.raises(TypeError):
            compact_utf8(value)


@pytest.mark.parametrize(
    ("value", "contracts", "language"),
    [
        (None, "null", "null"),
        (True, "boolean", "boolean"),
        (3, "integer", "number"),
        (3.5, "number", "number"),
        ("x", "string", "string"),
        ([1], "array", "array"),
        ({"a": 1}, "object", "object"),
    ],
)
def test_json_type_names_say_integer_only_where_integers_are_their_own_type(value, contracts, language):
    assert json_type_name(value) == contracts
    assert json_type_name(value, integers=False) == language


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("plain é ✓", None),
        ("nul\x00here", "contains a NUL character"),
        ("lone \ud800 surrogate", "contains a lone surrogate"),
    ],
)
def test_unstorable_text_is_named_with_its_reason(text, reason):
    assert unstorable_reason(text) == reason


# --- the read-only admin ---------------------------------------------------------------------

READ_ONLY = [
    Profile,
    Identifier,
    IdentityConflict,
    Endpoint,
    EndpointHistory,
    Violation,
    Event,
    ProfileUpdate,
    IdempotencyKey,
    QuarantinedItem,
    Job,
    Participant,
    MergeLedgerEntry,
]


@pytest.mark.django_db
@pytest.mark.parametrize("model", READ_ONLY, ids=lambda model: model.__name__)
def test_rows_written_only_by_services_are_read_only_in_the_admin_even_for_a_superuser(model):
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
