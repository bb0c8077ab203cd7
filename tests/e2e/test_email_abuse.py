"""Issue 11 (item 5) through the gateway: password-reset requests cannot
flood an inbox, and a sign-up's name is not carried into account emails."""
from sqlalchemy import create_engine, text

from services.identity.settings import settings
from tests.e2e.conftest import unique
from tests.e2e.test_messaging import mail_to, text_of

SPAM_NAME = "Claim your prize at https://evil.example/win"


def reset_events(suite, email: str) -> int:
    engine = create_engine(suite.database_url("identity"))
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM kit_outbox WHERE event_type = :t "
                                  "AND envelope->'payload'->>'email' = :e"),
                             {"t": "identity.user.password_reset_requested.v1", "e": email}).scalar_one()
    engine.dispose()
    return count


def test_twenty_reset_requests_send_at_most_the_limit(api, suite, make_org):
    _, _, email = make_org()
    answers = [api.post("/v1/auth/password-reset", json={"email": email}) for _ in range(20)]
    limit = settings().reset_max_per_email
    assert [a.status_code for a in answers] == [202] * limit + [429] * (20 - limit)
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert int(refused.headers["Retry-After"]) > 0
    assert reset_events(suite, email) == limit


def test_an_unverified_signup_name_is_not_echoed_into_account_emails(api, suite):
    email = f"{unique('victim')}@example.com"
    created = api.post("/v1/auth/signup", json={"email": email, "full_name": SPAM_NAME, "password": "whatever pass"})
    assert created.status_code == 201, created.text
    assert api.post("/v1/auth/password-reset", json={"email": email}).status_code == 202

    (verification,) = mail_to(suite, email, "Confirm your email address")
    (reset,) = mail_to(suite, email, "eset")
    for sent in (verification, reset):
        assert str(sent["To"]) == email  # no display name
        assert "evil.example" not in text_of(sent) and "prize" not in text_of(sent)
        assert "evil.example" not in sent.get_body(("html",)).get_content()
