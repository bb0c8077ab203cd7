"""messaging: emails per second delivered to the local SMTP sink for one
10,000-recipient admin message, next to a plain smtplib loop to the same sink.

    python -m bench.run messaging

In one run on this machine, against the whole suite (fresh databases, own
vhost, the Procfile's mail sink writing .eml files):
  1. baseline: one smtplib connection sending N pre-built multipart emails in a
     loop (no database, no rendering, no bookkeeping);
  2. ours: POST /v1/messages/{id}/send through the gateway, then the messaging
     service's sender timer (claims batches with FOR UPDATE SKIP LOCKED,
     renders each branded email, records CLAIMED -> SENDING -> SENT per email)
     until every delivery is SENT; emails/s over that whole time.
The 10,000 members are inserted into messaging's projection with one SQL
statement each (the events that normally feed it are not what is measured)."""
import os
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.harness import admin_session, running_suite

RECIPIENTS = int(os.environ.get("BENCH_MESSAGING_RECIPIENTS", "10000"))


def eml_count(folder: Path) -> int:
    return sum(1 for _ in Path(folder).glob("*.eml"))


def wait_files(folder: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while eml_count(folder) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {eml_count(folder)} of {count} emails reached the sink")
        time.sleep(0.1)


def smtplib_loop(port: int, count: int) -> float:
    """The baseline: emails/s of a bare loop over one SMTP connection."""
    emails = []
    for i in range(count):
        mime = EmailMessage()
        mime["From"] = "Bench <learning@platform.example>"
        mime["To"] = f"baseline{i}@bench.example"
        mime["Subject"] = "Kick-off week"
        mime.set_content("Hello,\n\nJoin us on Monday.\n")
        mime.add_alternative("<p>Hello,</p><p>Join us on <strong>Monday</strong>.</p>", subtype="html")
        emails.append(mime)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for mime in emails:
            smtp.send_message(mime)
    return count / (time.perf_counter() - started)


def seed_members(suite, org_id: str, count: int) -> str:
    program_id = str(uuid.uuid4())  # program ids are UUIDs (the API refuses others)
    engine = create_engine(suite.database_url("messaging"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO orgs (id, name, brand_color) VALUES (:org, 'Bench Org', '#1f4e79') "
                          "ON CONFLICT (id) DO NOTHING"), {"org": org_id})
        conn.execute(text("INSERT INTO programs (id, org_id, name, join_url) VALUES (:p, :org, 'Bench Program', "
                          "'https://learn.example/bench')"), {"p": program_id, "org": org_id})
        conn.execute(text("INSERT INTO people (org_id, user_id, email, full_name) SELECT :org, 'bench-u-' || g, "
                          "'learner' || g || '@bench.example', 'Learner ' || g FROM generate_series(1, :n) g"),
                     {"org": org_id, "n": count})
        conn.execute(text("INSERT INTO memberships (program_id, user_id, org_id, contract_id, active) "
                          "SELECT :p, 'bench-u-' || g, :org, 'bench-contract', true FROM generate_series(1, :n) g"),
                     {"p": program_id, "org": org_id, "n": count})
    engine.dispose()
    return program_id


def sent_count(engine, message_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM deliveries WHERE message_id = :m AND state = 'SENT'"),
                            {"m": message_id}).scalar()


def main() -> dict:
    with running_suite() as suite:
        headers, org_id = admin_session(suite)
        program_id = seed_members(suite, org_id, RECIPIENTS)

        before = eml_count(suite.mail_dir)
        baseline = smtplib_loop(suite.smtp_port, RECIPIENTS)
        wait_files(suite.mail_dir, before + RECIPIENTS)

        draft = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/messages", headers=headers, timeout=60, json={
            "audience": {"preset": "ALL_MEMBERS", "filters": {"program_ids": [program_id]}},
            "subject": "Kick-off week", "content": "Hello,\n\nJoin us on **Monday**.", "content_format": "MARKDOWN",
            "cta": {"label": "Open the program", "url": "https://learn.example/bench"}})
        draft.raise_for_status()
        message_id = draft.json()["id"]
        engine = create_engine(suite.database_url("messaging"))
        before = eml_count(suite.mail_dir)
        started = time.perf_counter()
        sent = requests.post(f"{suite.base_url}/v1/messages/{message_id}/send", headers=headers, timeout=60,
                             json={"accept_terms": True})
        send_call = time.perf_counter() - started
        sent.raise_for_status()
        deadline = time.monotonic() + 900
        while sent_count(engine, message_id) < RECIPIENTS:
            if time.monotonic() > deadline:
                raise RuntimeError("the message was not delivered in 15 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        engine.dispose()
        wait_files(suite.mail_dir, before + RECIPIENTS)
        ours = RECIPIENTS / elapsed

    figures = {"recipients": RECIPIENTS, "smtplib_loop_emails_per_s": round(baseline, 1),
               "messaging_emails_per_s": round(ours, 1), "ratio": round(ours / baseline, 3),
               "send_request_s": round(send_call, 3), "total_s": round(elapsed, 2)}
    print(f"\nmessaging: one admin message to {RECIPIENTS:,} recipients, delivered to the local SMTP sink")
    print(f"  {'plain smtplib loop (1 connection, pre-built emails)':<58} {baseline:>9.1f} emails/s")
    print(f"  {'messaging service (render + record + send, end to end)':<58} {ours:>9.1f} emails/s")
    print(f"  ratio {ours / baseline:.2f}; POST .../send answered in {send_call:.2f} s; all SENT after {elapsed:.1f} s")
    return figures


if __name__ == "__main__":
    main()
