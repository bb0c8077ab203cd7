"""An organization's single sign-on settings, as its org admins change them:
connections, email domains, the "only SSO" policy. Each change is announced
(identity.sso.config_changed.v1) for the audit log; client secrets are
encrypted and never answered."""
import secrets as pysecrets

from sqlalchemy import select

from contracts.common import AdminRole as Role
from contracts.domains import DomainRefused, normalize_domain
from contracts.errors import AppError, ErrorCode, not_found
from contracts.sso import SSO_CONFIG_CHANGED, DomainCheck, DomainProof, SsoKind
from servicekit import config, context
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email, require_uuid
from services.identity.commands import scim, throttle
from services.identity.models import AdminRole
from services.identity.queries import get_org
from services.identity.settings import settings
from services.identity.sso import dns_proof, secrets
from services.identity.sso.models import SsoConnection, SsoDomain, SsoPolicy

# what the change events carry (never the secret, nor the metadata XML: its size)
SHOWN_FIELDS = ("name", "enabled", "issuer", "client_id", "scopes", "idp_metadata_url", "clock_skew_seconds",
                "attribute_mapping", "auto_join")


def api_public_url() -> str:
    """The gateway as browsers reach it: API_PUBLIC_URL, else PUBLIC_URL (one host routing /v1 to the
    gateway, as deploy/k8s/ingress.yaml does)."""
    return (settings().api_public_url or config.public_url()).rstrip("/")


def connection_view(c: SsoConnection) -> dict:
    base = api_public_url()
    view = {"id": c.id, "org_id": c.org_id, "kind": c.kind, "name": c.name, "enabled": c.enabled,
            "issuer": c.issuer, "client_id": c.client_id, "client_secret_set": c.client_secret_enc is not None,
            "scopes": list(c.scopes or []), "idp_metadata_url": c.idp_metadata_url, "idp_entity_id": c.idp_entity_id,
            "clock_skew_seconds": c.clock_skew_seconds, "attribute_mapping": dict(c.attribute_mapping or {}),
            "auto_join": list(c.auto_join or []), "created_at": c.created_at, "updated_at": c.updated_at,
            "start_url": f"{base}/v1/sso/{c.id}/start", "redirect_uri": None, "acs_url": None,
            "sp_entity_id": None, "sp_metadata_url": None}
    if c.kind == SsoKind.OIDC:
        view["redirect_uri"] = f"{base}/v1/sso/oidc/callback"
    else:
        view.update(acs_url=f"{base}/v1/sso/saml/{c.id}/acs", sp_entity_id=f"{base}/v1/sso/saml/{c.id}/metadata",
                    sp_metadata_url=f"{base}/v1/sso/saml/{c.id}/metadata")
    return view


def _shown(c: SsoConnection) -> dict:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in
            ((name, getattr(c, name)) for name in SHOWN_FIELDS)}


def get_connection(uow: UnitOfWork, org_id: str | None, connection_id: str, lock: bool = False) -> SsoConnection:
    query = select(SsoConnection).where(SsoConnection.id == require_uuid(connection_id, "connection"))
    if org_id is not None:
        query = query.where(SsoConnection.org_id == org_id)
    connection = uow.session.scalar(query.with_for_update() if lock else query)
    if connection is None:
        raise not_found("connection")
    return connection


def list_connections(uow: UnitOfWork, org_id: str) -> list[SsoConnection]:
    get_org(uow, org_id)
    return list(uow.session.scalars(select(SsoConnection).where(SsoConnection.org_id == org_id)
                                    .order_by(SsoConnection.created_at)))


def _apply(c: SsoConnection, data: dict) -> None:
    secret = data.pop("client_secret", None)
    metadata_xml = data.pop("idp_metadata_xml", None) if "idp_metadata_xml" in data else ...
    for name, value in data.items():
        setattr(c, name, value)
    if secret:
        c.client_secret_enc = secrets.encrypt(secret)
    if metadata_xml is not ...:
        c.idp_metadata_xml = metadata_xml
        c.idp_entity_id = None
    elif data.get("idp_metadata_url"):
        c.idp_metadata_xml = None  # fetched again from the new URL
    if c.kind == SsoKind.SAML and (c.idp_metadata_xml or c.idp_metadata_url):
        from services.identity.sso import saml  # the IdP's entity id, from its metadata (checked now)

        c.idp_entity_id = saml.idp_entity_id(c)


def create_connection(uow: UnitOfWork, org_id: str, data: dict) -> SsoConnection:
    get_org(uow, org_id)
    data = dict(data)
    if data["kind"] == SsoKind.SAML:
        data.setdefault("clock_skew_seconds", 120)
    connection = SsoConnection(id=new_id(), org_id=org_id, kind=data.pop("kind"), scopes=[], attribute_mapping={},
                               auto_join=[], clock_skew_seconds=data.pop("clock_skew_seconds", 120))
    _apply(connection, data)
    uow.session.add(connection)
    uow.session.flush()
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "connection", "change": "created",
                                     "target_id": connection.id, "label": connection.name,
                                     "changed": sorted(k for k in data if k != "client_secret") +
                                     (["client_secret"] if connection.client_secret_enc else []),
                                     "previous": None, "current": {"kind": connection.kind, **_shown(connection)}},
                org_id=org_id)
    return connection


def update_connection(uow: UnitOfWork, org_id: str, connection_id: str, data: dict) -> SsoConnection:
    connection = get_connection(uow, org_id, connection_id, lock=True)
    if data.get("kind") not in (None, connection.kind):
        raise AppError(ErrorCode.INVALID_INPUT, "a connection's kind cannot change: create another one",
                       {"kind": ["cannot change"]})
    data = {k: v for k, v in data.items() if k != "kind"}
    before = _shown(connection)
    _apply(connection, dict(data))
    connection.updated_at = utcnow()
    after = _shown(connection)
    changed = sorted({k for k in after if after[k] != before[k]} | ({"client_secret"} & set(data))
                     | ({"idp_metadata_xml"} & set(data)))
    if changed:
        uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "connection", "change": "updated",
                                         "target_id": connection.id, "label": connection.name, "changed": changed,
                                         "previous": {k: before[k] for k in changed if k in before},
                                         "current": {k: after[k] for k in changed if k in after}}, org_id=org_id)
    return connection


def delete_connection(uow: UnitOfWork, org_id: str, connection_id: str) -> None:
    connection = get_connection(uow, org_id, connection_id, lock=True)
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "connection", "change": "deleted",
                                     "target_id": connection.id, "label": connection.name, "changed": [],
                                     "previous": _shown(connection), "current": None}, org_id=org_id)
    uow.session.delete(connection)


# ---------------------------------------------------------------- domains


def domain_view(d: SsoDomain) -> dict:
    verified = d.verified_at is not None
    return {"id": d.id, "org_id": d.org_id, "domain": d.domain, "verified": verified,
            "status": "VERIFIED" if verified else "PENDING", "verified_at": d.verified_at, "proof": d.proof,
            "verified_by": {"kind": d.verified_by_kind, "id": d.verified_by_id} if d.verified_by_id else None,
            "verification": {"type": "TXT", "name": dns_proof.record_name(d.domain),
                             "value": dns_proof.record_value(d.challenge), "also_accepted_at": d.domain},
            "last_checked_at": d.last_checked_at, "last_check": d.last_check,
            "last_check_message": d.last_check_message, "created_at": d.created_at}


def claimable(domain: str) -> str:
    """The domain normalised (contracts.domains), or 400 INVALID_INPUT with its field code."""
    try:
        return normalize_domain(domain)
    except DomainRefused as exc:
        raise AppError(ErrorCode.INVALID_INPUT, "not a domain that can be claimed",
                       {"domain": [str(exc.problem)]}) from None


def _taken(uow: UnitOfWork, org_id: str, domain: str) -> AppError | None:
    """DOMAIN_TAKEN when another organization verified `domain` (which one is never said)."""
    other = uow.session.scalar(select(SsoDomain.id).where(SsoDomain.domain == domain, SsoDomain.org_id != org_id,
                                                          SsoDomain.verified_at.is_not(None)))
    if other is None:
        return None
    return AppError(ErrorCode.DOMAIN_TAKEN, "another organization verified this domain", {"domain": ["taken"]})


def list_domains(uow: UnitOfWork, org_id: str) -> list[SsoDomain]:
    get_org(uow, org_id)
    return list(uow.session.scalars(select(SsoDomain).where(SsoDomain.org_id == org_id).order_by(SsoDomain.domain)))


def get_domain(uow: UnitOfWork, org_id: str, domain_id: str, lock: bool = False) -> SsoDomain:
    query = select(SsoDomain).where(SsoDomain.id == require_uuid(domain_id, "domain"), SsoDomain.org_id == org_id)
    row = uow.session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise not_found("domain")
    return row


def add_domain(uow: UnitOfWork, org_id: str, domain: str) -> SsoDomain:
    """A domain the organization claims, with its random TXT value; it counts once
    verified (docs/sso.md, "Verifying a domain"). Refused when another organization verified it."""
    get_org(uow, org_id)
    domain = claimable(domain)
    existing = uow.session.scalar(select(SsoDomain).where(SsoDomain.org_id == org_id, SsoDomain.domain == domain))
    if existing is not None:
        raise AppError(ErrorCode.CONFLICT, "this organization already claims this domain", {"domain": ["claimed"]})
    taken = _taken(uow, org_id, domain)
    if taken is not None:
        raise taken
    row = SsoDomain(org_id=org_id, domain=domain, challenge=pysecrets.token_urlsafe(32))
    uow.session.add(row)
    uow.session.flush()
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "domain", "change": "created", "target_id": row.id,
                                     "label": domain, "changed": ["domain"]}, org_id=org_id)
    return row


def _lock_claims(uow: UnitOfWork, domain: str) -> list[SsoDomain]:
    """Every organization's claim on `domain`, locked in one order: two verifications of one
    domain at once are taken one after the other (the second finds it taken)."""
    return list(uow.session.scalars(select(SsoDomain).where(SsoDomain.domain == domain)
                                    .order_by(SsoDomain.id).with_for_update()))


def _mark_verified(uow: UnitOfWork, row: SsoDomain, proof: str, by: dict | None) -> None:
    row.verified_at, row.proof = utcnow(), proof
    row.verified_by_kind, row.verified_by_id = (by["kind"], by["id"]) if by else (None, None)
    uow.session.flush()
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": row.org_id, "thing": "domain", "change": "verified",
                                     "target_id": row.id, "label": row.domain, "changed": ["verified_at"],
                                     "current": {"proof": proof}}, org_id=row.org_id)
    # the organization now vouches for the addresses there: its SCIM users in the domain are verified and join now
    scim.domain_verified(uow, row.org_id, row.domain)


def verify_domain(uow: UnitOfWork, org_id: str, domain: str, proof: str = DomainProof.ADMIN) -> SsoDomain:
    """Record the organization's claim on `domain` as proven by the operator's
    command (proof ADMIN), once the operator checked the proof; refused when another organization holds it."""
    domain = claimable(domain)
    _lock_claims(uow, domain)
    taken = _taken(uow, org_id, domain)
    if taken is not None:
        raise taken
    row = uow.session.scalar(select(SsoDomain).where(SsoDomain.org_id == org_id, SsoDomain.domain == domain)
                             .with_for_update())
    if row is None:
        row = add_domain(uow, org_id, domain)
    if row.verified_at is None:
        _mark_verified(uow, row, proof, None)
    return row


def check_domain(uow: UnitOfWork, org_id: str, domain_id: str, lookup=None) -> SsoDomain:
    """"Check now": look the domain's TXT record up (dns_proof, outside any lock) and,
    when it holds the value, record the domain verified (proof DNS_TXT, by the caller).
    Every check is announced (sso.domain_checked, with its outcome); a domain
    another organization verified meanwhile is 409 DOMAIN_TAKEN; past
    SSO_DOMAIN_CHECKS_PER_ORG checks in the throttle window, 429 TOO_MANY_REQUESTS."""
    row = get_domain(uow, org_id, domain_id)
    if row.verified_at is not None:
        return row
    domain, challenge = row.domain, row.challenge
    taken = _taken(uow, org_id, domain)
    if taken is not None:
        raise taken
    s = settings()
    with uow.independent_session() as session:  # each check queries DNS: at most so many per organization
        throttle.claim_request(session, "sso-domain-check", org_id, None, s.sso_domain_checks_per_org,
                               throttle.UNLIMITED, "too many domain checks for this organization; try again later")
    outcome = (lookup or dns_proof.check)(domain, challenge, dns_proof.parse_nameservers(s.sso_dns_nameservers),
                                          s.sso_dns_timeout)
    _lock_claims(uow, domain)
    row = get_domain(uow, org_id, domain_id, lock=True)  # removed meanwhile: 404
    uow.session.refresh(row)
    if row.verified_at is not None:
        return row
    result = outcome.result
    if result == DomainCheck.VERIFIED:
        taken = _taken(uow, org_id, domain)
        if taken is not None:
            raise taken
    row.last_checked_at, row.last_check, row.last_check_message = utcnow(), result.value, outcome.message
    uow.session.flush()
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "domain", "change": "checked", "target_id": row.id,
                                     "label": domain, "changed": ["last_check"],
                                     "current": {"result": result.value}}, org_id=org_id)
    if result == DomainCheck.VERIFIED:
        _mark_verified(uow, row, DomainProof.DNS_TXT, context.actor())
    return row


def delete_domain(uow: UnitOfWork, org_id: str, domain_id: str) -> None:
    row = get_domain(uow, org_id, domain_id)
    uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "domain", "change": "deleted", "target_id": row.id,
                                     "label": row.domain, "changed": []}, org_id=org_id)
    uow.session.delete(row)


# ---------------------------------------------------------------- policy


def get_policy(uow: UnitOfWork, org_id: str) -> dict:
    get_org(uow, org_id)
    policy = uow.session.get(SsoPolicy, org_id)
    return {"org_id": org_id, "only_sso": bool(policy and policy.only_sso)}


def set_policy(uow: UnitOfWork, org_id: str, only_sso: bool) -> dict:
    before = get_policy(uow, org_id)
    policy = uow.session.get(SsoPolicy, org_id, with_for_update=True)
    if policy is None:
        policy = SsoPolicy(org_id=org_id, only_sso=only_sso)
        uow.session.add(policy)
    policy.only_sso, policy.updated_at = only_sso, utcnow()
    uow.session.flush()
    if before["only_sso"] != only_sso:
        uow.publish(SSO_CONFIG_CHANGED, {"org_id": org_id, "thing": "policy", "change": "updated", "target_id": org_id,
                                         "label": "only_sso", "changed": ["only_sso"],
                                         "previous": {"only_sso": before["only_sso"]},
                                         "current": {"only_sso": only_sso}}, org_id=org_id)
    return {"org_id": org_id, "only_sso": only_sso}


def sso_required_for(uow: UnitOfWork, user_id: str, email: str) -> list[SsoConnection] | None:
    """"Only SSO": when the address is in a domain verified by an organization
    that requires SSO, and the person is not one of its org admins (who keep a
    break-glass password), that organization's enabled connections; else None."""
    domain = email.rsplit("@", 1)[-1]
    row = uow.session.execute(
        select(SsoDomain.org_id).join(SsoPolicy, SsoPolicy.org_id == SsoDomain.org_id)
        .where(SsoDomain.domain == domain, SsoDomain.verified_at.is_not(None), SsoPolicy.only_sso.is_(True))
    ).first()
    if row is None:
        return None
    org_id = row[0]
    admin = uow.session.scalar(select(AdminRole.id).where(AdminRole.org_id == org_id, AdminRole.user_id == user_id,
                                                          AdminRole.role == Role.ORG_ADMIN))
    if admin is not None:
        return None
    return list(uow.session.scalars(select(SsoConnection).where(SsoConnection.org_id == org_id,
                                                                SsoConnection.enabled.is_(True))))


def options_for(uow: UnitOfWork, email: str) -> list[dict]:
    """The connections an address signs in through: those of the organization
    that verified its domain (the sign-in page's "company account")."""
    domain = normalize_email(email).rsplit("@", 1)[-1]  # as linking.domain_of: the one email rule
    rows = uow.session.execute(
        select(SsoConnection, SsoDomain.org_id).join(SsoDomain, SsoDomain.org_id == SsoConnection.org_id)
        .where(SsoDomain.domain == domain, SsoDomain.verified_at.is_not(None), SsoConnection.enabled.is_(True))
        .order_by(SsoConnection.created_at)).all()
    out = []
    for connection, org_id in rows:
        org = get_org(uow, org_id)
        out.append({"connection_id": connection.id, "name": connection.name, "kind": connection.kind,
                    "organization_name": org.name, "start_url": connection_view(connection)["start_url"]})
    return out
