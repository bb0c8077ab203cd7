"""identity's people list at 100,000 people in one organization: EXPLAIN ANALYZE of the
statements `queries.list_people` sends (first page, a page deep in the list, search, filters).

    DATABASE_PREFIX=bench_people_ APP_ENV=development python -m bench.people_list

Makes (and drops at the end) the database `<DATABASE_PREFIX>identity`, migrated to head, seeded with
BENCH_PEOPLE (100,000) profiles in one organization and 20,000 in another, with SQL (generate_series),
then prints each statement's plan summary and execution time (best of 3). BENCH_KEEP=1 keeps the database.
BENCH_SHOW=<case name part> prints that case's whole plan."""
import os
import re
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql

from servicekit import config, migrations

PEOPLE = int(os.environ.get("BENCH_PEOPLE", "100000"))
SEED = """
INSERT INTO organizations (id, name, timezone, anonymize_leaderboard, deprovision_exit_email, created_at)
VALUES (:org, 'Bench', 'UTC', false, true, now()), (:other, 'Other', 'UTC', false, true, now());
INSERT INTO users (id, email, full_name, email_verified_at, created_at, token_version)
SELECT md5('u' || n)::uuid,
       'person' || n || '@' || (ARRAY['acme.example','globex.example','initech.example'])[n % 3 + 1],
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Ken'])[n % 6 + 1] || ' ' || 'Surname' || n,
       CASE WHEN n % 4 = 0 THEN NULL ELSE now() END, now() - (n || ' minutes')::interval, 0
FROM generate_series(1, :total) AS n;
INSERT INTO profiles (org_id, user_id, business_unit, job_title, created_at)
SELECT CASE WHEN n <= :people THEN :org ELSE :other END::uuid, md5('u' || n)::uuid,
       'BU ' || (n % 40), 'Engineer', now() - (n || ' minutes')::interval
FROM generate_series(1, :total) AS n;
ANALYZE users; ANALYZE profiles;
"""


def main() -> None:
    os.environ.setdefault("DATABASE_PREFIX", "bench_people_")
    migrations.drop_database("identity")
    migrations.migrate("identity")
    org, other = str(uuid.uuid4()), str(uuid.uuid4())
    engine = create_engine(config.database_url("identity"))
    try:
        with engine.begin() as conn:
            for statement in filter(str.strip, SEED.split(";")):
                conn.execute(text(statement), {"org": org, "other": other, "people": PEOPLE,
                                               "total": PEOPLE + 20000})
        cases = measure(engine, org)
    finally:
        engine.dispose()
        if not os.environ.get("BENCH_KEEP"):
            migrations.drop_database("identity")
    for name, (ms, plan) in cases.items():
        print(f"{name:38} {ms:8.2f} ms   {plan}")


def measure(engine, org: str) -> dict:
    from servicekit.pagination import encode_cursor
    from servicekit.standalone import unit_of_work
    from services.identity import queries

    # a cursor as if the client had paged 1,000 times: the key of the 50,000th person
    with engine.connect() as conn:
        row = conn.execute(text("SELECT created_at, user_id FROM profiles WHERE org_id = :org "
                                "ORDER BY created_at DESC, user_id DESC OFFSET 50000 LIMIT 1"), {"org": org}).first()
    deep_cursor = encode_cursor((row.created_at, str(row.user_id)))
    cases = {
        "first page (newest 50)": {},
        "page at 50,000 (cursor)": {"cursor": deep_cursor},
        "search q=grace (1 in 6 match)": {"q": "grace"},
        "search q=person99999 (1 match)": {"q": "person99999"},
        "search q=zzz (no match)": {"q": "zzz"},
        "business_unit='BU 7' (1 in 40)": {"business_unit": "BU 7"},
        "verified=false (1 in 4)": {"verified": False},
        "q=initech + business_unit": {"q": "initech", "business_unit": "BU 7"},
    }
    results = {}
    statements = []
    for name, params in cases.items():
        statements.clear()
        with unit_of_work("identity", config.database_url("identity")) as uow:
            for method in ("execute", "scalar", "scalars"):  # every statement list_people sends
                def spy(statement, *args, _original=getattr(uow.session, method), **kwargs):
                    statements.append(statement)
                    return _original(statement, *args, **kwargs)

                setattr(uow.session, method, spy)
            queries.list_people(uow, org, limit=50, **params)
        total, plans = 0.0, []
        for statement in statements[1:]:  # [0] is get_org's
            sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            best, plan = None, ""
            with engine.connect() as conn:
                for attempt in range(3):
                    lines = [r[0] for r in conn.execute(text("EXPLAIN ANALYZE " + sql))]
                    ms = float(re.search(r"Execution Time: ([0-9.]+)", lines[-1]).group(1))
                    if os.environ.get("BENCH_SHOW") and os.environ["BENCH_SHOW"] in name and attempt == 2:
                        print("\n".join([sql, *lines]))
                    if best is None or ms < best:
                        best = ms
                        plan = ", ".join(sorted({m.group(1) for line in lines for m in
                                                 [re.search(r"((?:Index|Bitmap Index|Seq|Index Only) Scan"
                                                            r"(?: Backward)?(?: using \w+)?(?: on \w+)?)", line)]
                                                 if m}))
            total += best
            plans.append(plan)
        best, plan = total, " | ".join(plans)
        results[name] = (best, plan)
    return results


if __name__ == "__main__":
    main()
