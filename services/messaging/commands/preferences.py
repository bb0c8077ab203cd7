"""A person's email preferences (by address) and the one-click unsubscribe."""
from sqlalchemy.dialects.postgresql import insert

from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email
from services.messaging import queries, render
from services.messaging import unsubscribe as tokens
from services.messaging.models import Preference
from services.messaging.settings import MessagingSettings


def set_preferences(uow: UnitOfWork, email: str, changes: dict) -> dict:
    values = {k: changes[k] for k in Preference.FIELDS if k in changes}
    stmt = insert(Preference).values(email=normalize_email(email), **values, updated_at=utcnow())
    if values:
        stmt = stmt.on_conflict_do_update(index_elements=[Preference.email], set_={**values, "updated_at": utcnow()})
    else:
        stmt = stmt.on_conflict_do_nothing()
    uow.session.execute(stmt)
    return queries.get_preferences(uow, email)


def unsubscribe(uow: UnitOfWork, settings: MessagingSettings, token: str) -> dict:
    email, category = tokens.read_token(settings.unsubscribe_key, token)
    set_preferences(uow, email, {render.OPT_OUT_COLUMN[category]: False})
    return {"email": email, "category": category, "unsubscribed": True}
