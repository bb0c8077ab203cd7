"""API tokens of an organization's machine clients: created (shown once) and revoked."""
from contracts.errors import AppError, ErrorCode, not_found
from contracts.identity import API_TOKEN_CREATED, API_TOKEN_REVOKED
from contracts.identity import API_TOKEN_SCOPES as API_TOKEN_SCOPE_NAMES
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.identity import credentials
from services.identity.models import ApiToken
from services.identity.queries import api_token_view, get_org

API_TOKEN_SCOPES = tuple(API_TOKEN_SCOPE_NAMES)


def create_api_token(uow: UnitOfWork, org_id: str, name: str, scopes: list[str], created_by: str | None) -> dict:
    get_org(uow, org_id)
    unknown = sorted(set(scopes) - set(API_TOKEN_SCOPES))
    if unknown:
        raise AppError(ErrorCode.INVALID_INPUT, "unknown scopes", {"scopes": [f"unknown: {', '.join(unknown)}"]})
    raw = credentials.new_secret("lat_")
    token = ApiToken(org_id=org_id, name=name, scopes=sorted(set(scopes)), token_hash=credentials.digest(raw),
                     created_by=created_by)
    uow.session.add(token)
    uow.session.flush()
    uow.publish(API_TOKEN_CREATED, token_event(token), org_id=org_id)  # the audit log's (never the secret)
    return {"id": token.id, "name": token.name, "scopes": token.scopes, "token": raw}


def token_event(token: ApiToken) -> dict:
    return {"token_id": token.id, "org_id": token.org_id, "name": token.name, "scopes": list(token.scopes),
            "created_by": token.created_by}


def revoke_api_token(uow: UnitOfWork, org_id: str, token_id: str) -> dict:
    """The token stops authenticating (identity refuses it at once; gateways
    that cached it, within their cache time). Revoking twice changes nothing."""
    token = uow.session.get(ApiToken, token_id, with_for_update=True) if parse_uuid(token_id) else None
    if token is None or token.org_id != org_id:
        raise not_found("API token")
    if token.revoked_at is None:
        token.revoke(utcnow())
        uow.publish(API_TOKEN_REVOKED, token_event(token), org_id=org_id)
    uow.session.flush()
    return api_token_view(token)
