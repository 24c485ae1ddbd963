"""Writes of the contracts app. Every change to a contract goes through here, whether it
comes from the API, the admin or a plan, so versions and history are always kept."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from cdp_project.core.errors import FieldProblem, Problem, ProblemError, already_exists, pointer
from jobs.models import Job
from jobs.services import job_enqueue
from tenants.models import Tenant

from . import specs
from .hooks import contract_dependents_checks
from .models import (
    DERIVED_BACKFILLING,
    DERIVED_READY,
    JOB_DERIVED_BACKFILL,
    JOB_DERIVED_RECOMPUTE,
    NUMERIC_AGGREGATIONS,
    NUMERIC_TYPES,
    AttributeDefinition,
    DerivedAttributeDefinition,
    EventType,
    EventTypeVersion,
    PropertyDefinition,
)
from .types import DerivedAttributeSpec, EventTypeSpec, FieldSpec


def _already_exists(what: str, name: str) -> ProblemError:
    return already_exists(f"{what} {name!r} exists already.")


def property_specs_of(event_type: EventType) -> tuple[FieldSpec, ...]:
    """The current properties of an event type, in their order (uses a prefetch if there is one)."""
    rows = sorted(event_type.properties.all(), key=lambda p: (p.position, p.name))
    return tuple(specs.field_spec_from_row(p) for p in rows)


def _property_fields(spec: FieldSpec, position: int) -> dict:
    return {
        "position": position,
        "type": spec.type,
        "required": spec.required,
        "filterable": spec.filterable,
        "derivable": spec.derivable,
        "values": list(spec.values),
        "max_length": spec.max_length,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "description": spec.description,
    }


def _freeze_version(*, event_type: EventType, properties: Sequence[FieldSpec], changed_by: str) -> None:
    EventTypeVersion.objects.create(
        tenant_id=event_type.tenant_id,
        event_type=event_type,
        version=event_type.version,
        definition=specs.definition_json(
            allow_additional_properties=event_type.allow_additional_properties, properties=properties
        ),
        digest=event_type.definition_digest,
        changed_by=changed_by[:150],
    )


def event_type_create(*, tenant_id: int, spec: EventTypeSpec, changed_by: str = "") -> EventType:
    """Register an event type at version 1. A taken name is a 409 `already_exists`."""
    digest = specs.definition_digest(
        allow_additional_properties=spec.allow_additional_properties, properties=spec.properties
    )
    try:
        with transaction.atomic():
            event_type = EventType.objects.create(
                tenant_id=tenant_id,
                name=spec.name,
                description=spec.description,
                status=spec.status,
                allow_additional_properties=spec.allow_additional_properties,
                version=1,
                definition_digest=digest,
            )
            PropertyDefinition.objects.bulk_create(
                PropertyDefinition(tenant_id=tenant_id, event_type=event_type, name=p.name, **_property_fields(p, i))
                for i, p in enumerate(spec.properties)
            )
            _freeze_version(event_type=event_type, properties=spec.properties, changed_by=changed_by)
    except IntegrityError:
        raise _already_exists("An event type", spec.name) from None
    return event_type


def derived_dependency_problems(*, event_type: EventType, properties: Sequence[FieldSpec]) -> tuple[FieldProblem, ...]:
    """What a new set of properties would break among the derived attributes fed by it."""
    by_name = {p.name: (index, p) for index, p in enumerate(properties)}
    problems: list[FieldProblem] = []
    derived = DerivedAttributeDefinition.objects.filter(tenant_id=event_type.tenant_id, event_type=event_type)
    for definition in derived.exclude(property_name="").order_by("name"):
        found = by_name.get(definition.property_name)
        feeds = f"'{definition.property_name}' feeds the derived attribute '{definition.name}'"
        if found is None:
            problems.append(FieldProblem("/properties", "in_use", f"{feeds}; it cannot be removed."))
            continue
        index, prop = found
        if not prop.derivable:
            problems.append(
                FieldProblem(pointer("properties", index, "derivable"), "in_use", f"{feeds}; it must stay derivable.")
            )
        if definition.aggregation in NUMERIC_AGGREGATIONS and prop.type not in NUMERIC_TYPES:
            problems.append(
                FieldProblem(
                    pointer("properties", index, "type"),
                    "in_use",
                    f"{feeds} with {definition.aggregation}; it must stay integer or number.",
                )
            )
    return tuple(problems)


def contract_dependent_problems(
    *,
    tenant_id: int,
    event_type: str | None = None,
    attribute: str | None = None,
    derived: str | None = None,
    changes: Sequence[FieldSpec] = (),
    at: str = "/properties",
) -> tuple[FieldProblem, ...]:
    """What the apps above (segments) say a change would break: one `in_use` problem per
    dependent, naming it. `changes` are the new properties of `event_type`, or the new
    definition of `attribute` (empty when it would be removed); `derived` is a derived
    attribute about to be deleted."""
    problems: list[FieldProblem] = []
    for check in contract_dependents_checks():
        found = check(tenant_id=tenant_id, event_type=event_type, attribute=attribute, derived=derived, changes=changes)
        for dependent in found:
            problems.append(FieldProblem(at, "in_use", f"The change would break {dependent}."))
    return tuple(problems)


def _attribute_change_pointer(old: FieldSpec, new: FieldSpec) -> str:
    if old.type != new.type:
        return "/type"
    if old.filterable and not new.filterable:
        return "/filterable"
    return "/values" if old.values != new.values else ""


def event_type_update(
    *,
    event_type: EventType,
    description: str | None = None,
    status: str | None = None,
    allow_additional_properties: bool | None = None,
    properties: Sequence[FieldSpec] | None = None,
    changed_by: str = "",
) -> EventType:
    """Change an event type; None leaves a field as it is. The version grows by one, and
    the new version is frozen in the history, only when the rules actually change
    (properties or allow_additional_properties); a description or status change, or a
    mere reordering of properties, keeps the version."""
    with transaction.atomic():
        locked = EventType.objects.select_for_update().get(pk=event_type.pk)
        current = property_specs_of(locked)
        new_properties = tuple(properties) if properties is not None else current
        new_allow = (
            allow_additional_properties
            if allow_additional_properties is not None
            else locked.allow_additional_properties
        )
        problems = derived_dependency_problems(event_type=locked, properties=new_properties)
        if properties is not None and new_properties != current:
            problems += contract_dependent_problems(
                tenant_id=locked.tenant_id, event_type=locked.name, changes=new_properties
            )
        specs.raise_problems(problems)

        digest = specs.definition_digest(allow_additional_properties=new_allow, properties=new_properties)
        fields: list[str] = []
        if description is not None and description != locked.description:
            locked.description = description
            fields.append("description")
        if status is not None and status != locked.status:
            locked.status = status
            fields.append("status")
        rules_changed = digest != locked.definition_digest
        if rules_changed:
            locked.allow_additional_properties = new_allow
            locked.version += 1
            locked.definition_digest = digest
            fields += ["allow_additional_properties", "version", "definition_digest"]
        if properties is not None:
            _replace_properties(event_type=locked, old=current, new=new_properties)
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if rules_changed:
            _freeze_version(event_type=locked, properties=new_properties, changed_by=changed_by)
    return locked


def _replace_properties(*, event_type: EventType, old: Sequence[FieldSpec], new: Sequence[FieldSpec]) -> None:
    """Write the property rows; rows of unchanged properties are left alone."""
    old_by_name = {p.name: (i, p) for i, p in enumerate(old)}
    new_names = {p.name for p in new}
    removed = [name for name in old_by_name if name not in new_names]
    if removed:
        PropertyDefinition.objects.filter(
            tenant_id=event_type.tenant_id, event_type=event_type, name__in=removed
        ).delete()
    for position, spec in enumerate(new):
        before = old_by_name.get(spec.name)
        if before == (position, spec):
            continue
        PropertyDefinition.objects.update_or_create(
            tenant_id=event_type.tenant_id,
            event_type=event_type,
            name=spec.name,
            defaults=_property_fields(spec, position),
        )


def breaking_changes(
    *,
    old_allow: bool,
    old: Sequence[FieldSpec],
    new_allow: bool,
    new: Sequence[FieldSpec],
) -> tuple[str, ...]:
    """Changes that could break senders or consumers, in words for marketing ops."""
    found: list[str] = []
    old_by_name = {p.name: p for p in old}
    new_by_name = {p.name: p for p in new}
    if old_allow and not new_allow:
        found.append("Undeclared properties will be refused from now on.")
    for name, before in old_by_name.items():
        after = new_by_name.get(name)
        if after is None:
            found.append(f"'{name}' is removed: consumers that read it lose it, and senders that send it are refused.")
            continue
        if after.type != before.type:
            found.append(f"'{name}' changes type from {before.type} to {after.type}.")
        if after.required and not before.required:
            found.append(f"'{name}' becomes required: events without it will be refused.")
        if before.type == after.type == "enum":
            dropped = [v for v in before.values if v not in after.values]
            if dropped:
                found.append(f"'{name}' no longer accepts {', '.join(dropped)}.")
        if after.max_length is not None and (before.max_length is None or after.max_length < before.max_length):
            found.append(f"'{name}' is limited to {after.max_length} characters.")
        if (after.minimum is not None and (before.minimum is None or after.minimum > before.minimum)) or (
            after.maximum is not None and (before.maximum is None or after.maximum < before.maximum)
        ):
            found.append(f"'{name}' accepts a narrower range of values.")
        if before.filterable and not after.filterable:
            found.append(f"'{name}' is no longer filterable: segments that use it stop working.")
        if before.derivable and not after.derivable:
            found.append(f"'{name}' is no longer derivable.")
    for name, after in new_by_name.items():
        if name not in old_by_name and after.required:
            found.append(f"New required property '{name}': events without it will be refused.")
    return tuple(found)


def attribute_breaking_changes(*, old: FieldSpec, new: FieldSpec) -> tuple[str, ...]:
    return tuple(
        line.replace("events without it will be refused", "updates without it will be refused")
        for line in breaking_changes(old_allow=False, old=[old], new_allow=False, new=[new])
    )


def attribute_definition_spec_of(definition: AttributeDefinition) -> FieldSpec:
    return specs.field_spec_from_row(definition)


def _attribute_fields(spec: FieldSpec) -> dict:
    return {
        "type": spec.type,
        "filterable": spec.filterable,
        "values": list(spec.values),
        "max_length": spec.max_length,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "description": spec.description,
    }


def attribute_definition_create(*, tenant_id: int, spec: FieldSpec) -> AttributeDefinition:
    try:
        with transaction.atomic():
            return AttributeDefinition.objects.create(tenant_id=tenant_id, name=spec.name, **_attribute_fields(spec))
    except IntegrityError:
        raise _already_exists("An attribute definition", spec.name) from None


def attribute_definition_update(*, definition: AttributeDefinition, spec: FieldSpec) -> AttributeDefinition:
    """Replace an attribute definition's typing (the name stays). No write when nothing
    changes; a change that would break a saved segment is a 422 `in_use` naming it."""
    old = attribute_definition_spec_of(definition)
    if old == spec:
        return definition
    specs.raise_problems(
        contract_dependent_problems(
            tenant_id=definition.tenant_id,
            attribute=definition.name,
            changes=(spec,),
            at=_attribute_change_pointer(old, spec),
        )
    )
    for field, value in _attribute_fields(spec).items():
        setattr(definition, field, value)
    definition.save(update_fields=[*_attribute_fields(spec), "updated_at"])
    return definition


def derived_attribute_problems(*, tenant_id: int, spec: DerivedAttributeSpec) -> tuple[FieldProblem, ...]:
    event_type = EventType.objects.filter(tenant_id=tenant_id, name=spec.event_type).first()
    if event_type is None:
        return (
            FieldProblem("/eventType", "unknown_event_type", f"'{spec.event_type}' is not a registered event type."),
        )
    if spec.property is None:
        return ()
    prop = PropertyDefinition.objects.filter(tenant_id=tenant_id, event_type=event_type, name=spec.property).first()
    if prop is None:
        return (
            FieldProblem("/property", "unknown_property", f"'{spec.event_type}' has no property '{spec.property}'."),
        )
    problems = []
    if not prop.derivable:
        problems.append(
            FieldProblem("/property", "not_derivable", f"'{spec.property}' is not derivable; mark it derivable first.")
        )
    if spec.aggregation in NUMERIC_AGGREGATIONS and prop.type not in NUMERIC_TYPES:
        problems.append(
            FieldProblem(
                "/property",
                "not_numeric",
                f"{spec.aggregation} needs an integer or number property; '{spec.property}' is {prop.type}.",
            )
        )
    return tuple(problems)


def derived_attribute_create(*, tenant_id: int, spec: DerivedAttributeSpec) -> DerivedAttributeDefinition:
    """Define a derived attribute. Its property must be derivable, and numeric for
    sum/min/max (422 pointing at /property); a taken name is a 409.

    Returns at once: the definition is `backfilling` and its `job` (committed with it) computes
    its values from the stored events on the worker, then marks it `ready`. Meanwhile ingest
    keeps folding new events in, and readers leave its incomplete values out."""
    try:
        with transaction.atomic():
            # Locked like event_type_update locks it, so the property cannot change under the check.
            EventType.objects.select_for_update().filter(tenant_id=tenant_id, name=spec.event_type).first()
            specs.raise_problems(derived_attribute_problems(tenant_id=tenant_id, spec=spec))
            event_type = EventType.objects.get(tenant_id=tenant_id, name=spec.event_type)
            definition = DerivedAttributeDefinition.objects.create(
                tenant_id=tenant_id,
                name=spec.name,
                event_type=event_type,
                property_name=spec.property or "",
                aggregation=spec.aggregation,
                description=spec.description,
                status=DERIVED_BACKFILLING,
            )
            definition.job = _derived_job_enqueue(definition=definition, kind=JOB_DERIVED_BACKFILL)
            definition.save(update_fields=["job"])
            return definition
    except IntegrityError:
        raise _already_exists("A derived attribute", spec.name) from None


def derived_attributes_recompute(*, tenant_id: int, names: Sequence[str] | None = None) -> Job:
    """Queue a recompute of the named (default: all) derived attributes from the event store,
    a locked chunk of profiles at a time; returns the job (committed with the change). The
    definitions are `backfilling` until it is done (their values, being rewritten, are not
    served as complete meanwhile); its last step marks them `ready` again. A later recompute
    or backfill takes a definition over: only the definition's latest job marks it ready.
    Unknown names are a 422."""
    with transaction.atomic():
        definitions = list(
            DerivedAttributeDefinition.objects.select_for_update().filter(tenant_id=tenant_id).order_by("name")
        )
        known = {d.name for d in definitions}
        unknown = sorted(set(names or ()) - known)
        if unknown:
            raise Problem.UNKNOWN_DERIVED_ATTRIBUTE.error(
                f"No derived attribute {', '.join(repr(n) for n in unknown)}.",
                errors=tuple(FieldProblem("/names", "unknown_derived_attribute", repr(n)) for n in unknown),
            )
        chosen = [d for d in definitions if names is None or d.name in names]
        job = job_enqueue(
            tenant=Tenant.objects.get(pk=tenant_id),
            kind=JOB_DERIVED_RECOMPUTE,
            params={"names": [d.name for d in chosen]},
        )
        DerivedAttributeDefinition.objects.filter(pk__in=[d.pk for d in chosen]).update(
            job=job, status=DERIVED_BACKFILLING
        )
        return job


def _derived_job_enqueue(*, definition: DerivedAttributeDefinition, kind: str) -> Job:
    return job_enqueue(
        tenant=Tenant.objects.get(pk=definition.tenant_id),
        kind=kind,
        params={"definition": definition.pk, "name": definition.name},
    )


def derived_attribute_backfill_finish(*, tenant_id: int, definition_id: int, job_id: object) -> bool:
    """Mark a definition `ready` once its backfill job computed every value (only if that job
    is still the definition's job). Returns whether it was marked."""
    return bool(
        DerivedAttributeDefinition.objects.filter(
            tenant_id=tenant_id, pk=definition_id, job_id=job_id, status=DERIVED_BACKFILLING
        ).update(status=DERIVED_READY)
    )


def derived_attributes_job_finish(*, tenant_id: int, job_id: object) -> int:
    """Mark `ready` every backfilling definition whose latest job is `job_id` (a recompute's
    last step). Returns how many were marked."""
    return DerivedAttributeDefinition.objects.filter(
        tenant_id=tenant_id, job_id=job_id, status=DERIVED_BACKFILLING
    ).update(status=DERIVED_READY)


def derived_attribute_spec_of(definition: DerivedAttributeDefinition) -> DerivedAttributeSpec:
    return DerivedAttributeSpec(
        name=definition.name,
        event_type=definition.event_type.name,
        property=definition.property_name or None,
        aggregation=definition.aggregation,
        description=definition.description,
    )
