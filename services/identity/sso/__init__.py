"""Single sign-on (issue 17, docs/sso.md): per-organization connections to an
identity provider (OpenID Connect: oidc.py; SAML 2.0: saml.py), verified email
domains and the organization's policy (config.py), and what a sign-in through
a connection does to accounts and profiles (linking.py)."""
