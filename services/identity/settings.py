"""identity's configuration (the kit's typed settings): read from the
environment when the container sets up (`IdentityService.settings`; a bad value
stops the start) and, for the commands that run outside a container, at their
first use; never at import time."""
import functools
import os
from dataclasses import dataclass
from datetime import timedelta

from servicekit.config import Settings, setting

CORES = os.cpu_count() or 1


def _days(raw: str) -> timedelta:
    return timedelta(days=int(raw))


@dataclass(frozen=True)
class IdentitySettings(Settings):
    access_token_ttl: timedelta = setting("ACCESS_TOKEN_TTL_SECONDS", timedelta(seconds=900))
    refresh_token_ttl: timedelta = setting("REFRESH_TOKEN_TTL_DAYS", timedelta(days=30), parse=_days)
    login_max_failures: int = setting("LOGIN_MAX_FAILURES", 5)
    login_max_failures_per_client: int = setting("LOGIN_MAX_FAILURES_PER_CLIENT", 50)
    # Emails sent to an address at anyone's request (docs/identity.md, "Email request limits"):
    # reset links, and new verification links (counted apart, with the same limits).
    reset_max_per_email: int = setting("RESET_MAX_PER_EMAIL", 3)
    reset_max_per_client: int = setting("RESET_MAX_PER_CLIENT", 20)
    signup_max_per_client: int = setting("SIGNUP_MAX_PER_CLIENT", 20)
    # single sign-on starts per client address (each stores a sign-in under way: docs/sso.md, "Limits")
    sso_start_max_per_client: int = setting("SSO_START_MAX_PER_CLIENT", 100)
    # refused answers (OIDC callback, SAML ACS) per client address, then the client is locked (docs/sso.md)
    sso_answer_max_refusals_per_client: int = setting("SSO_ANSWER_MAX_REFUSALS_PER_CLIENT", 20)
    password_hash_concurrency: int = setting("PASSWORD_HASH_CONCURRENCY", CORES)
    password_hash_queue: int = setting("PASSWORD_HASH_QUEUE", 4 * CORES)
    password_hash_wait_seconds: float = setting("PASSWORD_HASH_WAIT_SECONDS", 2.0)
    throttle_window: timedelta = timedelta(minutes=15)
    verify_token_ttl: timedelta = timedelta(hours=48)
    reset_token_ttl: timedelta = timedelta(hours=2)
    first_password_ttl: timedelta = timedelta(days=7)
    # Single sign-on (docs/sso.md): encrypts the connections' client secrets (required outside development)
    sso_secret_key: str | None = setting("SSO_SECRET_KEY", None, secret=True)
    # The gateway's public base URL as browsers reach it (OIDC redirect URI, SAML ACS and metadata URLs)
    api_public_url: str | None = setting("API_PUBLIC_URL", None)
    sso_http_timeout: float = setting("SSO_HTTP_TIMEOUT_SECONDS", 5.0)
    # Domain verification's TXT lookups (docs/sso.md, "Verifying a domain"): `host[:port]`, comma
    # separated (default: the system's resolver, /etc/resolv.conf), and the time each lookup may take
    sso_dns_nameservers: str | None = setting("SSO_DNS_NAMESERVERS", None)
    sso_dns_timeout: float = setting("SSO_DNS_TIMEOUT_SECONDS", 3.0)
    # "Check now" calls per organization per throttle window (15 minutes): each one queries DNS
    sso_domain_checks_per_org: int = setting("SSO_DOMAIN_CHECKS_PER_ORG", 60)

    def __post_init__(self):
        from services.identity.sso import dns_proof
        dns_proof.parse_nameservers(self.sso_dns_nameservers)  # a malformed list stops the start
        if not 0 < self.sso_dns_timeout <= 30:
            raise ValueError("SSO_DNS_TIMEOUT_SECONDS: between 0 and 30 seconds")
        from services.identity.sso import secrets as sso_secrets
        sso_secrets.check_key(self.sso_secret_key)  # a missing or weak SSO_SECRET_KEY stops the start


@functools.cache
def settings() -> IdentitySettings:
    return IdentitySettings.from_env()
