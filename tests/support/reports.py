"""The report CSVs as tests read them: the exact header rows domain.md ("Reports") gives, and a
parser that checks the byte order mark. Shared by reporting's own tests
(services/reporting/reports/tests) and the end-to-end ones (tests/e2e/test_reports.py)."""
import csv
import io

HEADERS = {
    "usage": "Name,Email,External Id,Course,Course ID,Course Slug,University,Enrollment Time,Class Start Time,"
             "Last Course Activity Time,Overall Progress,Estimated Learning Hours,Completed,Removed From Program,"
             "Program Slug,Program Name,Enrollment Source,Completion Time,Course Grade,Contract,Manager Name,"
             "Manager Email,Job Title,Job Type,Business Unit,Business Unit 2,Location City,Location Country,"
             "Location Region",
    "membership": "Name,Email,External Id,Program Name,Program Slug,# Enrolled Courses,# Completed Courses,"
                  "Member State,Join Date,Invitation Date,Last Activity Time,Contract(s),Manager Name,Manager Email,"
                  "Job Title,Job Type,Business Unit,Business Unit 2,Location City,Location Country,Location Region",
    "specialization": "Name,Email,External Id,Specialization,Specialization Slug,University,Enrollment Time,"
                      "Last Specialization Activity Time,Completed,Removed From Program,Program Slug,Program Name,"
                      "Enrollment Source,Specialization Completion Time,Contract,Manager Name,Manager Email,"
                      "Job Title,Job Type,Business Unit,Business Unit 2,Location City,Location Country,"
                      "Location Region",
    "assessment_attempts": "Name,Email,External Id,Course,Course Slug,Assessment,Attempt,Score,Max Score,Passed,"
                           "Attempt Time",
}


def csv_rows(raw: bytes) -> list[list[str]]:
    """A report's bytes as rows of cells (the header first); it must start with the UTF-8 byte order mark."""
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
