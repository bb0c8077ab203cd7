"""invitations' side of SCIM (docs/scim.md, "How the effects flow"): an active, unverified account is invited to
the programs of its entitlement state, SCIM's invitations are revoked when a program leaves the state or the
account is verified, all pending ones when the person is inactive; a version at or below the last applied changes
nothing; programs not answering makes the event fail (to be retried) without recording anything. Real
PostgreSQL (the handler in a unit of work); programs is a stand-in."""
import uuid

import pytest
from sqlalchemy import create_engine, text

from contracts.errors import AppError, ErrorCode
from servicekit import config
from servicekit.standalone import unit_of_work
from services.invitations.handlers import scim_entitlements_changed
from services.invitations.settings import InvitationSettings


class Programs:
    """programs as invitations' Peers see it: answers, refuses, or does not answer."""

    def __init__(self):
        self.down = False
        self.refused: set[str] = set()

    def program_with_contract(self, org_id, program_id, contract_id):
        if self.down:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "programs did not answer in time")
        if program_id in self.refused:
            raise AppError(ErrorCode.NOT_FOUND, "program not found")
        return {"id": program_id, "name": "Academy"}


@pytest.fixture
def db(service_databases):
    engine = create_engine(config.database_url("invitations"))
    yield engine
    engine.dispose()


def apply(peers, payload):
    with unit_of_work("invitations") as uow:
        return scim_entitlements_changed(uow, peers, InvitationSettings.from_env(), payload)


def state(org_id, user_id, version, program_ids=(), active=True, verified=False):
    return {"org_id": org_id, "user_id": user_id, "version": version, "active": active, "verified": verified,
            "email": f"{user_id[:8]}@acme.example", "full_name": None, "notify_exit": True,
            "programs": [{"program_id": p, "contract_id": str(uuid.uuid5(uuid.NAMESPACE_URL, p))}
                         for p in program_ids]}


def invitations(db, user_id):
    with db.connect() as conn:
        return {(r.program_id, r.state) for r in conn.execute(text(
            "SELECT program_id::text, state FROM invitations WHERE user_id = :u"), {"u": user_id})}


def test_invited_revoked_and_versions(db):
    peers = Programs()
    org_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert apply(peers, state(org_id, user_id, 1, [a]))["invited"] == [a]
    assert invitations(db, user_id) == {(a, "PENDING")}
    assert apply(peers, state(org_id, user_id, 1, [a]))["applied"] is False  # redelivered: not invited twice
    assert apply(peers, state(org_id, user_id, 3, [b]))["invited"] == [b]  # a left the state: revoked
    assert invitations(db, user_id) == {(a, "REVOKED"), (b, "PENDING")}
    assert apply(peers, state(org_id, user_id, 2, [a]))["applied"] is False  # older, after a newer: ignored
    assert invitations(db, user_id) == {(a, "REVOKED"), (b, "PENDING")}
    assert apply(peers, state(org_id, user_id, 4, [b]))["invited"] == []  # pending already
    apply(peers, state(org_id, user_id, 5, [], active=False))
    assert invitations(db, user_id) == {(a, "REVOKED"), (b, "REVOKED")}


def test_a_verified_account_is_not_invited_and_scims_invitations_go(db):
    peers = Programs()
    org_id, user_id, a = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    apply(peers, state(org_id, user_id, 1, [a]))
    assert apply(peers, state(org_id, user_id, 2, [a], verified=True))["revoked"] == 1  # programs joins them now
    assert invitations(db, user_id) == {(a, "REVOKED")}
    other = str(uuid.uuid4())
    assert apply(peers, state(org_id, other, 1, [a], verified=True))["invited"] == []
    assert invitations(db, other) == set()


def test_programs_not_answering_fails_the_event_for_a_retry_and_a_refusal_is_skipped(db):
    peers = Programs()
    org_id, user_id, a, gone = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    peers.down = True
    with pytest.raises(AppError):
        apply(peers, state(org_id, user_id, 1, [a]))
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scim_entitlements WHERE user_id = :u"),
                            {"u": user_id}).scalar() == 0  # nothing recorded: the retry does it all
    peers.down = False
    peers.refused.add(gone)
    assert apply(peers, state(org_id, user_id, 1, [a, gone]))["invited"] == [a]
    assert invitations(db, user_id) == {(a, "PENDING")}
