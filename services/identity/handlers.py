"""identity's consumers of other services' events, one function per event."""
from contracts.errors import not_found
from contracts.identity import PROFILE_UPDATED
from servicekit.db import UnitOfWork
from services.identity.models import Organization, Profile, User
from services.identity.queries import person_view


def on_member_joined(uow: UnitOfWork, payload: dict) -> bool:
    """A person joined a program of the organization: make sure their account
    has a profile there (their reports rows need one). True if one was created."""
    org_id, user_id = payload["org_id"], payload["user_id"]
    if uow.session.get(Profile, (org_id, user_id)) is not None:
        return False
    user = uow.session.get(User, user_id)
    if user is None or uow.session.get(Organization, org_id) is None:
        raise not_found("account or organization of the member")
    profile = Profile(org_id=org_id, user_id=user_id)
    uow.session.add(profile)
    uow.session.flush()
    uow.publish(PROFILE_UPDATED, person_view(user, profile), org_id=org_id)
    return True
