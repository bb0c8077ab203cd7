"""The curriculum: a program's ordered collections and their items (courses
or specializations). Every change of the item set announces the program's
whole curriculum."""
from sqlalchemy import delete, func, select

from contracts.errors import invalid, not_found
from contracts.programs import COLLECTION_CHANGED, CURRICULUM_CHANGED, CollectionChange, ItemKind
from servicekit.db import UnitOfWork
from services.programs.commands import conflict_on_duplicate
from services.programs.models import Collection, CollectionItem, Program, order_items, place_at
from services.programs.queries import (
    collection_view,
    courses_by_id,
    get_collection,
    get_program,
    specializations_by_id,
)


def curriculum_changed(uow: UnitOfWork, program: Program) -> None:
    rows = uow.session.execute(select(CollectionItem.course_id, CollectionItem.specialization_id)
                               .where(CollectionItem.program_id == program.id)).all()
    uow.publish(CURRICULUM_CHANGED, {
        "program_id": program.id, "org_id": program.org_id,
        "course_ids": sorted({r.course_id for r in rows if r.course_id}),
        "specialization_ids": sorted({r.specialization_id for r in rows if r.specialization_id}),
    }, org_id=program.org_id)


def collection_changed(uow: UnitOfWork, collection: Collection, change: CollectionChange, changes: dict | None = None,
                       course_ids=(), specialization_ids=()) -> None:
    """The admin's change of one collection (the audit log's event)."""
    uow.publish(COLLECTION_CHANGED, {
        "collection_id": collection.id, "org_id": collection.org_id, "program_id": collection.program_id,
        "name": collection.name, "change": change, "changes": changes, "course_ids": sorted(course_ids),
        "specialization_ids": sorted(specialization_ids)}, org_id=collection.org_id)


def _locked(uow: UnitOfWork, org_id: str, collection_id: str) -> tuple[Collection, Program]:
    """The collection and its program, both rows locked: the program's lock
    serializes changes of its curriculum. The collection is read again once
    that lock is held, so a deletion that committed meanwhile is a 404, not a
    write to a row that is gone."""
    collection = get_collection(uow, org_id, collection_id)
    program = get_program(uow, org_id, collection.program_id, lock=True)
    return get_collection(uow, org_id, collection_id, lock=True), program


def create_collection(uow: UnitOfWork, org_id: str, program_id: str, data: dict) -> dict:
    program = get_program(uow, org_id, program_id, lock=True)  # serializes positions
    last = uow.session.scalar(select(func.max(Collection.position)).where(Collection.program_id == program.id))
    collection = Collection(org_id=program.org_id, program_id=program.id, name=data["name"],
                            description=data.get("description"), position=(last or 0) + 1)
    uow.session.add(collection)
    conflict_on_duplicate(uow, "collection", "name")
    collection_changed(uow, collection, CollectionChange.CREATED,
                       {name: {"before": None, "after": getattr(collection, name)} for name in ("name", "description")})
    return collection_view(uow, collection)


def update_collection(uow: UnitOfWork, org_id: str, collection_id: str, changes: dict) -> dict:
    collection, program = _locked(uow, org_id, collection_id)
    changed = {}
    for name in ("name", "description", "position"):
        if name in changes and getattr(collection, name) != changes[name]:
            changed[name] = {"before": getattr(collection, name), "after": changes[name]}
    for name in ("name", "description"):
        if name in changes:
            setattr(collection, name, changes[name])
    if "position" in changes:
        siblings = uow.session.scalars(select(Collection).where(Collection.program_id == program.id)
                                       .order_by(Collection.position, Collection.id)).all()
        place_at(siblings, collection, changes["position"])
    if "item_ids" in changes:
        items = uow.session.scalars(select(CollectionItem).where(CollectionItem.collection_id == collection.id)).all()
        order_items(items, changes["item_ids"])
        changed["item_ids"] = {"before": None, "after": [str(i) for i in changes["item_ids"]]}
    conflict_on_duplicate(uow, "collection", "name")
    collection_changed(uow, collection, CollectionChange.UPDATED, changed or None)
    return collection_view(uow, collection)


def delete_collection(uow: UnitOfWork, org_id: str, collection_id: str) -> None:
    collection, program = _locked(uow, org_id, collection_id)
    had_items = uow.session.scalar(select(func.count()).where(CollectionItem.collection_id == collection.id))
    uow.session.execute(delete(CollectionItem).where(CollectionItem.collection_id == collection.id))
    collection_changed(uow, collection, CollectionChange.DELETED)
    uow.session.delete(collection)
    uow.session.flush()
    if had_items:
        curriculum_changed(uow, program)


def add_items(uow: UnitOfWork, org_id: str, collection_id: str, course_ids: list[str],
              specialization_ids: list[str]) -> dict:
    collection, program = _locked(uow, org_id, collection_id)
    courses = courses_by_id(uow, course_ids)
    specs = specializations_by_id(uow, specialization_ids)
    errors = {}
    if set(course_ids) - set(courses):
        errors["course_ids"] = [f"unknown courses: {sorted(set(course_ids) - set(courses))}"]
    if set(specialization_ids) - set(specs):
        errors["specialization_ids"] = [f"unknown specializations: {sorted(set(specialization_ids) - set(specs))}"]
    if errors:
        raise invalid(errors, "unknown catalog ids")
    existing = set(uow.session.execute(select(CollectionItem.kind,
                                              func.coalesce(CollectionItem.course_id, CollectionItem.specialization_id))
                                       .where(CollectionItem.collection_id == collection.id)).all())
    position = uow.session.scalar(select(func.max(CollectionItem.position))
                                  .where(CollectionItem.collection_id == collection.id)) or 0
    added = 0
    wanted = [(ItemKind.COURSE, cid) for cid in dict.fromkeys(course_ids)]
    wanted += [(ItemKind.SPECIALIZATION, sid) for sid in dict.fromkeys(specialization_ids)]
    for kind, item_id in wanted:
        if (kind, item_id) in existing:
            continue  # adding twice is a no-op
        position += 1
        added += 1
        uow.session.add(CollectionItem(collection_id=collection.id, program_id=program.id, kind=kind,
                                       course_id=item_id if kind == ItemKind.COURSE else None,
                                       specialization_id=item_id if kind == ItemKind.SPECIALIZATION else None,
                                       position=position))
    uow.session.flush()
    if added:
        curriculum_changed(uow, program)
        collection_changed(uow, collection, CollectionChange.ITEMS_ADDED, None,
                           [i for k, i in wanted if k == ItemKind.COURSE and (k, i) not in existing],
                           [i for k, i in wanted if k == ItemKind.SPECIALIZATION and (k, i) not in existing])
    return collection_view(uow, collection)


def remove_item(uow: UnitOfWork, org_id: str, collection_id: str, item_id: str) -> None:
    collection, program = _locked(uow, org_id, collection_id)
    removed = uow.session.execute(delete(CollectionItem).where(CollectionItem.id == str(item_id),
                                                               CollectionItem.collection_id == collection.id)
                                  .returning(CollectionItem.course_id, CollectionItem.specialization_id)).all()
    if not removed:
        raise not_found("item")
    curriculum_changed(uow, program)
    collection_changed(uow, collection, CollectionChange.ITEM_REMOVED, None,
                       [r.course_id for r in removed if r.course_id],
                       [r.specialization_id for r in removed if r.specialization_id])
