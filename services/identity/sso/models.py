"""identity's single sign-on tables (on identity's metadata: one database, one
Alembic history; migration 0008)."""
import secrets
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.models import created_column, id_column, uuid_column
from services.identity.models import Base


class SsoConnection(Base):
    """One way into one organization: an OpenID Connect provider or a SAML IdP."""

    __tablename__ = "sso_connections"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # contracts.sso.SsoKind
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    issuer: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    client_secret_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token (sso/secrets.py), never the secret
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    idp_metadata_url: Mapped[str | None] = mapped_column(Text)
    idp_metadata_xml: Mapped[str | None] = mapped_column(Text)
    idp_entity_id: Mapped[str | None] = mapped_column(Text)
    # SAML: this service provider's own key pair (signs nothing yet; the IdP may encrypt assertions to it)
    sp_private_key_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token, like client secrets
    sp_certificate: Mapped[str | None] = mapped_column(Text)
    clock_skew_seconds: Mapped[int] = mapped_column(Integer, server_default="120", default=120)
    attribute_mapping: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    auto_join: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"), default=list)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SsoDomain(Base):
    """An email domain an organization claims; verified, it is the organization's
    alone (one verified claim per domain): its addresses link to existing
    accounts, are created just in time, and may be held to "only SSO"."""

    __tablename__ = "sso_domains"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    proof: Mapped[str | None] = mapped_column(String(20))  # contracts.sso.DomainProof
    # the TXT record's random value (migration 0009): per organization and domain, unguessable, not secret
    challenge: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_urlsafe(32))
    verified_by_kind: Mapped[str | None] = mapped_column(String(20))  # servicekit.context.ActorKind; None: operator
    verified_by_id: Mapped[str | None] = mapped_column(String(64))
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_check: Mapped[str | None] = mapped_column(String(20))  # contracts.sso.DomainCheck
    last_check_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        Index("sso_domains_org_domain", "org_id", "domain", unique=True),
        Index("sso_domains_verified", "domain", unique=True, postgresql_where=text("verified_at IS NOT NULL")),
    )


class SsoPolicy(Base):
    __tablename__ = "sso_policies"
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), primary_key=True)
    only_sso: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    updated_at: Mapped[datetime] = created_column()


class SsoLogin(Base):
    """A sign-in under way: what the callback must find again (state, nonce, PKCE verifier)."""

    __tablename__ = "sso_logins"
    id: Mapped[str] = id_column()
    connection_id: Mapped[str] = uuid_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(Text)
    code_verifier: Mapped[str | None] = mapped_column(Text)
    return_to: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()


class SamlAssertionSeen(Base):
    """Replay protection: an assertion id is accepted once per connection (kept until it expires)."""

    __tablename__ = "sso_saml_assertions"
    connection_id: Mapped[str] = uuid_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
