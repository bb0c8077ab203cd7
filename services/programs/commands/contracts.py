"""Contracts and their license counts (licenses are taken and freed by memberships)."""
from contracts.programs import CONTRACT_CREATED, CONTRACT_UPDATED
from servicekit.db import UnitOfWork
from services.programs.commands import conflict_on_duplicate
from services.programs.models import Contract
from services.programs.queries import contract_view, get_contract


def contract_event(contract: Contract) -> dict:
    return {"contract_id": contract.id, "org_id": contract.org_id, "name": contract.name,
            "license_count": contract.license_count, "starts_on": contract.starts_on.isoformat(),
            "ends_on": contract.ends_on.isoformat()}


def create_contract(uow: UnitOfWork, org_id: str, data: dict) -> dict:
    contract = Contract(org_id=str(org_id), licenses_used=0, **data)
    uow.session.add(contract)
    conflict_on_duplicate(uow, "contract", "name")
    uow.publish(CONTRACT_CREATED, contract_event(contract), org_id=org_id)
    return contract_view(contract)


def update_contract(uow: UnitOfWork, org_id: str, contract_id: str, changes: dict) -> dict:
    contract = get_contract(uow, org_id, contract_id, lock=True)  # joins wait while the count changes
    before = contract_event(contract)
    if contract.change(changes):
        conflict_on_duplicate(uow, "contract", "name")
        after = contract_event(contract)
        previous = {name: value for name, value in before.items() if after[name] != value}  # the audit log's before
        uow.publish(CONTRACT_UPDATED, {**after, "previous": previous}, org_id=org_id)
    return contract_view(contract)
