"""The CSVs against reporting's real tables: exact header rows, BOM, formats,
CSV injection, scope (organization, programs), one consistent snapshot."""
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.reporting.reports import cells, definitions, export
from services.reporting.reports.tests.conftest import add_org, add_program, execute, new_id, utc
from tests.support.reports import HEADERS, csv_rows

DANGEROUS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+2", "-3", "@SUM(A1)", "\tTabbed", "\rReturn"]


def person(engine, org_id, name, email, **profile):
    user_id = new_id()
    columns = ["org_id", "user_id", "email", "full_name", *profile]
    execute(engine, f"INSERT INTO people ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
            org_id=org_id, user_id=user_id, email=email, full_name=name, **profile)
    return user_id


def member(engine, org_id, program_id, user_id, email, state="MEMBER", contract_id=None):
    execute(engine, "INSERT INTO memberships (program_id, user_id, org_id, membership_id, state, contract_id, email, "
                    "invited_at, joined_at, removed_at) VALUES (:p, :u, :o, :m, :s, :k, :e, :inv, :j, :r)",
            p=program_id, u=user_id, o=org_id, m=new_id(), s=state, k=contract_id, e=email,
            inv=utc(2026, 10, 1, 8, 0, 0), j=None if state == "INVITED" else utc(2026, 10, 2, 9, 30, 15, 123456),
            r=utc(2026, 11, 20) if state == "DELETED_MEMBER" else None)


def enroll(engine, org_id, program_id, user_id, course_id=None, specialization_id=None, collection_id=None):
    execute(engine, "INSERT INTO enrollments (enrollment_id, org_id, program_id, user_id, kind, course_id, "
                    "specialization_id, collection_id, enrolled_at) VALUES (:e, :o, :p, :u, :k, :c, :s, :col, :t)",
            e=new_id(), o=org_id, p=program_id, u=user_id, k="COURSE" if course_id else "SPECIALIZATION",
            c=course_id, s=specialization_id, col=collection_id, t=utc(2026, 10, 3, 10, 0, 0, 5000))


@pytest.fixture
def world(engine):
    suffix = new_id()[:8]
    c1, c2, c3 = f"c1-{suffix}", f"c2-{suffix}", f"c3-{suffix}"
    execute(engine, "INSERT INTO courses (course_id, slug, name, partner, item_count, lesson_count, graded_item_count, "
                    "class_start_time) VALUES (:a, :a || '-slug', 'Machine Learning, Part 1', 'Stanford', 39, 5, 2, "
                    ":t), (:b, :b || '-slug', 'Python \"Basics\"', 'Michigan', 10, 2, 1, NULL), "
                    "(:c, :c || '-slug', 'SQL', 'Davis', 4, 1, 0, NULL)",
            a=c1, b=c2, c=c3, t=utc(2019, 12, 23, 6, 18, 32, 782000))
    spec = f"s-{suffix}"
    execute(engine, "INSERT INTO specializations (specialization_id, slug, name, partner, course_ids) "
                    "VALUES (:s, 'data-spec', 'Data Specialization', 'Stanford', :c)", s=spec, c=[c1, c2])
    org = add_org(engine, "Acme")
    other_org = add_org(engine, "Globex")
    p1, p2 = add_program(engine, org, "Data Skills", "data-skills"), add_program(engine, org, "Leadership", "lead")
    q = add_program(engine, other_org, "Globex Program", "globex")
    k = new_id()
    execute(engine, "INSERT INTO contracts VALUES (:k, :o, 'Main contract', 100, '2026-01-01', '2027-12-31')",
            k=k, o=org)
    ann = person(engine, org, "Ann Lee", "ann@acme.example", external_id="E-1", manager_name="Mo Boss",
                 manager_email="mo@acme.example", job_title="Engineer", job_type="Full-time",
                 business_unit="R&D", business_unit_2="ML", location_city="Paris", location_country="France",
                 location_region="EMEA")
    evil = person(engine, org, DANGEROUS[0], "evil@acme.example", external_id=DANGEROUS[1],
                  job_title=DANGEROUS[2], business_unit=DANGEROUS[3], location_city=DANGEROUS[4],
                  location_region=DANGEROUS[5], manager_name='Smith, "Jo"\nJr')
    gone = person(engine, org, "Gus Gone", "gus@acme.example")
    invited = person(engine, org, "Ivy Invited", "ivy@acme.example")
    outsider = person(engine, other_org, "Olga Other", "olga@globex.example")
    member(engine, org, p1, ann, "ann@acme.example", contract_id=k)
    member(engine, org, p2, ann, "ann@acme.example", contract_id=k)
    member(engine, org, p1, evil, "evil@acme.example", contract_id=k)
    member(engine, org, p1, gone, "gus@acme.example", state="DELETED_MEMBER")
    member(engine, org, p1, invited, "ivy@acme.example", state="INVITED")
    member(engine, other_org, q, outsider, "olga@globex.example")
    foundations, risky = new_id(), new_id()  # collections (programs.collection.changed.v1's projection)
    execute(engine, "INSERT INTO collections (collection_id, org_id, program_id, name, changed_at) VALUES "
                    "(:a, :o, :p, 'Data Foundations', now()), (:b, :o, :p, '=cmd()', now())",
            a=foundations, b=risky, o=org, p=p1)
    enroll(engine, org, p1, ann, c1, collection_id=foundations)
    enroll(engine, org, p1, ann, c2)  # found by search: no collection
    enroll(engine, org, p2, ann, c3)
    enroll(engine, org, p1, evil, c1, collection_id=risky)
    enroll(engine, org, p1, gone, c1)
    enroll(engine, org, p1, ann, specialization_id=spec, collection_id=foundations)
    enroll(engine, other_org, q, outsider, c1)
    execute(engine, "INSERT INTO learner_courses (org_id, user_id, course_id, hours_us, statements, last_activity_at, "
                    "items_completed, lessons_taken, graded_items, grade_pct, completed_at) VALUES "
                    "(:o, :u, :c1, 1044000000, 7, :t1, 5, 2, 2, 88.245, NULL), "
                    "(:o, :u, :c2, 7200000000, 9, :t2, 10, 2, 1, 75, :t2)",
            o=org, u=ann, c1=c1, c2=c2, t1=utc(2026, 11, 5, 14, 0, 1, 999999), t2=utc(2026, 11, 6, 8))
    execute(engine, "INSERT INTO learners (org_id, user_id, hours_us, sessions, statements, last_activity_at) "
                    "VALUES (:o, :u, 8244000000, 3, 16, :t)", o=org, u=ann, t=utc(2026, 11, 6, 8))
    execute(engine, "INSERT INTO learner_items (org_id, user_id, course_id, item_id, item_type, best_pct, attempts) "
                    "VALUES (:o, :u, :c, 'quiz-1', 'quiz', 80, 2), (:o, :u, :c, 'quiz-2', 'quiz', 96.49, 1)",
            o=org, u=ann, c=c1)
    for attempt, (score, passed, ts) in enumerate([(6, False, utc(2026, 11, 5, 13)), (8, True, utc(2026, 11, 5, 14)),
                                                   (19.298, True, utc(2026, 11, 5, 14, 30))], start=1):
        execute(engine, "INSERT INTO statements (org_id, statement_id, user_id, verb, object_type, item_id, course_id, "
                        "item_type, score, max_score, passed, attempt, ts, source) VALUES (:o, :s, :u, 'graded', "
                        "'item', :i, :c, 'quiz', :sc, :mx, :p, :a, :ts, 'native')",
                o=org, s=new_id(), u=ann, i="quiz-1" if attempt < 3 else "quiz-2", c=c1, sc=score,
                mx=10 if attempt < 3 else 20, p=passed, a=1 if attempt == 3 else attempt, ts=ts)
    execute(engine, "INSERT INTO item_names (org_id, course_id, item_id, name, named_at) "
                    "VALUES (:o, :c, 'quiz-1', 'Week 1: Linear Regression', now())", o=org, c=c1)
    return {"org": org, "other_org": other_org, "p1": p1, "p2": p2, "q": q, "c1": c1, "c2": c2, "c3": c3,
            "spec": spec, "ann": ann, "evil": evil}


@pytest.fixture
def export_engine(service_databases):
    engine = export.make_export_engine("reporting", 2)
    yield engine
    engine.dispose()


def read(export_engine, report, org_id, programs=None, program_id=None, course_id=None):
    raw = b"".join(export.stream(export_engine, export.ExportRequest(report, org_id, programs, program_id,
                                                                     course_id)))
    assert raw.endswith(b"\r\n")
    return csv_rows(raw)


@pytest.mark.parametrize("report", ["usage", "membership", "specialization"])
def test_exact_header_rows_even_when_empty(export_engine, engine, report):
    org = add_org(engine, "Empty")
    raw = b"".join(export.stream(export_engine, export.ExportRequest(report, org)))
    assert raw == b"\xef\xbb\xbf" + HEADERS[report].encode() + b"\r\n"


def by_name(rows, header):
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_usage_report_rows_and_formats(export_engine, world):
    rows = read(export_engine, "usage", world["org"])
    assert ",".join(rows[0]) == HEADERS["usage"]
    got = by_name(rows[1:], rows[0])
    assert len(got) == 5  # ann x3, evil, gone; never the other organization's
    ml = next(r for r in got if r["Email"] == "ann@acme.example" and r["Course ID"] == world["c1"])
    assert ml == {
        "Name": "Ann Lee", "Email": "ann@acme.example", "External Id": "E-1", "Course": "Machine Learning, Part 1",
        "Course ID": world["c1"], "Course Slug": world["c1"] + "-slug", "University": "Stanford",
        "Enrollment Time": "2026-10-03T10:00:00.005Z", "Class Start Time": "2019-12-23T06:18:32.782Z",
        "Last Course Activity Time": "2026-11-05T14:00:01.999Z", "Overall Progress": "12.82",
        "Estimated Learning Hours": "0.29", "Completed": "No", "Removed From Program": "No",
        "Program Slug": "data-skills", "Program Name": "Data Skills", "Enrollment Source": "Data Foundations",
        "Completion Time": "", "Course Grade": "88.25", "Contract": "Main contract", "Manager Name": "Mo Boss",
        "Manager Email": "mo@acme.example", "Job Title": "Engineer", "Job Type": "Full-time",
        "Business Unit": "R&D", "Business Unit 2": "ML", "Location City": "Paris", "Location Country": "France",
        "Location Region": "EMEA"}
    py = next(r for r in got if r["Course ID"] == world["c2"])
    assert (py["Course"], py["Completed"], py["Completion Time"], py["Overall Progress"],
            py["Estimated Learning Hours"], py["Course Grade"]) == (
        'Python "Basics"', "Yes", "2026-11-06T08:00:00.000Z", "100.00", "2.00", "75.00")
    sql = next(r for r in got if r["Course ID"] == world["c3"])  # enrolled, no activity yet
    assert (sql["Program Name"], sql["Overall Progress"], sql["Estimated Learning Hours"], sql["Completed"],
            sql["Last Course Activity Time"], sql["Course Grade"]) == ("Leadership", "0.00", "0.00", "No", "", "")
    assert py["Enrollment Source"] == ""  # found by search
    gone = next(r for r in got if r["Email"] == "gus@acme.example")
    assert gone["Removed From Program"] == "Yes"


def test_every_formula_start_is_neutralised(export_engine, world):
    for report in ("usage", "membership"):
        rows = read(export_engine, report, world["org"])
        evil = [r for r in by_name(rows[1:], rows[0]) if r["Email"] == "evil@acme.example"]
        assert evil
        for row in evil:
            assert row["Name"] == "'" + DANGEROUS[0]
            assert row["External Id"] == "'+1+2"
            assert row["Job Title"] == "'-3"
            assert row["Business Unit"] == "'@SUM(A1)"
            assert row["Location City"] == "'\tTabbed"
            assert row["Location Region"] == "'\rReturn"
            assert row["Manager Name"] == 'Smith, "Jo"\nJr'  # quoted, intact
            if report == "usage":
                assert row["Enrollment Source"] == "'=cmd()"  # a collection's name too
        for row in rows[1:]:
            for value in row:
                assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), (report, value)


def test_program_scope_and_other_organizations(export_engine, world):
    only_p2 = by_name(*(lambda rows: (rows[1:], rows[0]))(read(export_engine, "usage", world["org"], [world["p2"]])))
    assert [(r["Email"], r["Program Name"]) for r in only_p2] == [("ann@acme.example", "Leadership")]
    membership = read(export_engine, "membership", world["org"], [world["p1"]])
    assert {r[1] for r in membership[1:]} == {"ann@acme.example", "evil@acme.example", "gus@acme.example",
                                              "ivy@acme.example"}
    # another organization's program named with this organization: nothing of it
    assert read(export_engine, "usage", world["org"], [world["q"]]) == [HEADERS["usage"].split(",")]
    other = read(export_engine, "usage", world["other_org"])
    assert [r[1] for r in other[1:]] == ["olga@globex.example"]


def test_membership_report(export_engine, world):
    rows = read(export_engine, "membership", world["org"])
    assert ",".join(rows[0]) == HEADERS["membership"]
    got = {(r["Email"], r["Program Slug"]): r for r in by_name(rows[1:], rows[0])}
    ann = got[("ann@acme.example", "data-skills")]
    assert (ann["# Enrolled Courses"], ann["# Completed Courses"], ann["Member State"], ann["Join Date"],
            ann["Invitation Date"], ann["Last Activity Time"], ann["Contract(s)"]) == (
        "2", "1", "MEMBER", "2026-10-02T09:30:15.123Z", "2026-10-01T08:00:00.000Z", "2026-11-06T08:00:00.000Z",
        "Main contract")
    assert got[("ann@acme.example", "lead")]["# Enrolled Courses"] == "1"
    ivy = got[("ivy@acme.example", "data-skills")]
    assert (ivy["Member State"], ivy["Join Date"], ivy["# Enrolled Courses"]) == ("INVITED", "", "0")
    assert got[("gus@acme.example", "data-skills")]["Member State"] == "DELETED_MEMBER"


def test_specialization_report(export_engine, world, engine):
    rows = read(export_engine, "specialization", world["org"])
    assert ",".join(rows[0]) == HEADERS["specialization"]
    (row,) = by_name(rows[1:], rows[0])
    assert (row["Specialization"], row["Specialization Slug"], row["University"], row["Completed"],
            row["Last Specialization Activity Time"], row["Specialization Completion Time"]) == (
        "Data Specialization", world["spec"], "Stanford", "No", "2026-11-06T08:00:00.000Z", "")
    assert row["Enrollment Source"] == "Data Foundations"
    execute(engine, "UPDATE learner_courses SET completed_at = :t WHERE user_id = :u AND course_id = :c",
            t=utc(2026, 11, 7, 12), u=world["ann"], c=world["c1"])
    (row,) = by_name(*(lambda r: (r[1:], r[0]))(read(export_engine, "specialization", world["org"])))
    assert (row["Completed"], row["Specialization Completion Time"]) == ("Yes", "2026-11-07T12:00:00.000Z")


def test_gradebooks(export_engine, world):
    rows = read(export_engine, "assessment_attempts", world["org"], program_id=world["p1"], course_id=world["c1"])
    assert ",".join(rows[0]) == HEADERS["assessment_attempts"]
    got = by_name(rows[1:], rows[0])
    assert [(r["Assessment"], r["Attempt"], r["Score"], r["Max Score"], r["Passed"], r["Attempt Time"])
            for r in sorted(got, key=lambda r: r["Attempt Time"])] == [
        ("Week 1: Linear Regression", "1", "6.00", "10.00", "No", "2026-11-05T13:00:00.000Z"),
        ("Week 1: Linear Regression", "2", "8.00", "10.00", "Yes", "2026-11-05T14:00:00.000Z"),
        ("quiz-2", "1", "19.30", "20.00", "Yes", "2026-11-05T14:30:00.000Z")]
    assert {(r["Name"], r["Course"], r["Course Slug"]) for r in got} == {
        ("Ann Lee", "Machine Learning, Part 1", world["c1"] + "-slug")}
    book = read(export_engine, "gradebook", world["org"], program_id=world["p1"], course_id=world["c1"])
    # a column per graded item: its name where the platform gave one (quiz-2 has none: its id)
    assert book[0] == ["Name", "Email", "External Id", "Week 1: Linear Regression", "quiz-2", "Course Grade"]
    assert book[1:] == [["Ann Lee", "ann@acme.example", "E-1", "80.00", "96.49", "88.25"]]
    # another program of the organization: Ann is a member of p2, her c1 grades show there too; nobody else's
    other = read(export_engine, "gradebook", world["org"], program_id=world["p2"], course_id=world["c1"])
    assert [r[1] for r in other[1:]] == ["ann@acme.example"]
    assert read(export_engine, "gradebook", world["other_org"], program_id=world["p1"], course_id=world["c1"]) == [
        ["Name", "Email", "External Id", "Course Grade"]]


def test_sql_and_python_finish_cells_alike(engine):
    values = ["plain", "", "a,b", 'q"uote', "line\nbreak", "cr\rx", *DANGEROUS, "x-y", "O'Neil", "Zoë 山田", "-"]
    with engine.connect() as conn:
        for combo in itertools.combinations(values, 3):
            select, lateral = cells.sql_row([f":v{i}" for i in range(3)])
            row = conn.execute(text(f"SELECT {select} FROM (SELECT 1) one {lateral}"),
                               {f"v{i}": v for i, v in enumerate(combo)}).one()
            assert cells.finish(row) + cells.ROW_END == cells.line(list(combo)), combo


def test_sql_cell_finishes_like_python(engine):
    values = ["plain", "", None, "a,b", 'q"uote', "line\nbreak", "cr\rx", *DANGEROUS, "x-y", "O'Neil", "Zoë 山田",
              "-", "sep\x1fin", "'already"]
    with engine.connect() as conn:
        for value in values:
            got = conn.execute(text(f"SELECT {cells.sql_cell('CAST(:v AS text)')}"), {"v": value}).scalar()
            assert got == cells.cell(value), value


def test_usage_row_of_an_enrollment_without_membership(export_engine, engine, world):
    """An enrollment whose member.joined was not consumed yet: the person's cells come from their profile."""
    nomad = person(engine, world["org"], "=Nomad", "nomad@acme.example", external_id="N-1", job_title="Pilot, Sr")
    enroll(engine, world["org"], world["p1"], nomad, world["c1"])
    enroll(engine, world["org"], world["p1"], nomad, "not-in-the-catalog")
    rows = read(export_engine, "usage", world["org"])
    assert all(len(r) == len(rows[0]) for r in rows)
    row, unknown = sorted((r for r in by_name(rows[1:], rows[0]) if r["Email"] == "nomad@acme.example"),
                          key=lambda r: r["Course"], reverse=True)
    assert (row["Name"], row["External Id"], row["Job Title"], row["Removed From Program"], row["Contract"],
            row["Program Name"], row["Course"]) == (
        "'=Nomad", "N-1", "Pilot, Sr", "No", "", "Data Skills", "Machine Learning, Part 1")
    assert (unknown["Course"], unknown["Course ID"], unknown["Course Slug"], unknown["Class Start Time"],
            unknown["Overall Progress"]) == ("", "not-in-the-catalog", "", "", "")


def test_one_snapshot_for_the_whole_export(export_engine, engine, world, monkeypatch):
    monkeypatch.setattr(export, "FETCH_ROWS", 1)
    chunks = export.stream(export_engine, export.ExportRequest("usage", world["org"]))
    first = [next(chunks), next(chunks)]  # header and the first row: the snapshot is taken
    late = add_program(engine, world["org"], "Late Program", "late")
    enroll(engine, world["org"], late, world["ann"], world["c3"])
    rest = list(chunks)
    body = b"".join(first + rest).decode("utf-8")
    assert "Late Program" not in body
    assert body.count("\r\n") == 6  # header + the 5 rows that existed when the export began
    # a gradebook's two queries (columns, then rows) see one snapshot too
    chunks = export.stream(export_engine, export.ExportRequest("gradebook", world["org"], program_id=world["p1"],
                                                               course_id=world["c1"]))
    header = next(chunks)
    execute(engine, "INSERT INTO learner_items (org_id, user_id, course_id, item_id, item_type, best_pct, attempts) "
                    "VALUES (:o, :u, :c, 'quiz-3', 'quiz', 50, 1)", o=world["org"], u=world["ann"], c=world["c1"])
    rows = csv_rows(b"".join([header, *chunks]))
    assert rows[0] == ["Name", "Email", "External Id", "Week 1: Linear Regression", "quiz-2", "Course Grade"]
    assert rows[1] == ["Ann Lee", "ann@acme.example", "E-1", "80.00", "96.49", "88.25"]


def test_an_abandoned_export_gives_its_connection_back(export_engine, world):
    for _ in range(5):  # more than the pool holds (2)
        chunks = export.stream(export_engine, export.ExportRequest("usage", world["org"]))
        next(chunks)
        chunks.close()
    assert export_engine.pool.checkedout() == 0
    assert len(read(export_engine, "usage", world["org"])) == 6


def test_times_are_truncated_to_milliseconds_like_python():
    value = utc(2019, 12, 23, 6, 18, 32, 782999)
    assert cells.iso_ms(value) == "2019-12-23T06:18:32.782Z"
    assert cells.iso_ms(value + timedelta(microseconds=1)) == "2019-12-23T06:18:32.783Z"
    assert definitions.FILENAMES["usage"] == "usage.csv"


@pytest.mark.parametrize("report", ["usage", "membership", "specialization"])
def test_shares_read_at_once_give_the_same_rows(export_engine, engine, world, report):
    big = export.make_export_engine("reporting", 3)
    try:
        one = b"".join(export.stream(export_engine, export.ExportRequest(report, world["org"])))
        three = b"".join(export.stream(big, export.ExportRequest(report, world["org"]), parts=3))
    finally:
        big.dispose()
    one_lines, three_lines = one.split(b"\r\n"), three.split(b"\r\n")
    assert one_lines[0] == three_lines[0]
    assert sorted(one_lines[1:]) == sorted(three_lines[1:])
    assert len(one_lines) > 2


def test_shares_read_one_snapshot(engine, world, monkeypatch):
    monkeypatch.setattr(export, "FETCH_ROWS", 1)
    big = export.make_export_engine("reporting", 2)
    try:
        chunks = export.stream(big, export.ExportRequest("usage", world["org"]), parts=2)
        header = next(chunks)  # both shares' transactions are on the first one's snapshot from here on
        late = add_program(engine, world["org"], "Later Program", "later")
        for user in (world["ann"], world["evil"]):  # whatever share each falls in
            enroll(engine, world["org"], late, user, world["c3"])
        body = b"".join([header, *chunks]).decode("utf-8")
    finally:
        big.dispose()
    assert "Later Program" not in body
    assert body.count("\r\n") == 6
