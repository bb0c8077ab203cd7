"""The demo step: idempotent, and the demo organization's benchmark shows in every quartile."""
import uuid

from sqlalchemy import text

from servicekit.standalone import unit_of_work
from services.skills import demo, queries
from services.skills.settings import SkillsSettings

ACADEMY_COURSES = ["daG-a-O1EeijKBISCWxf6g", "a6aG7BW8HQxUyZeuFaRrPA", "QFutUF_vAaBrafaEwy16bg",
                   "oR65fkdQGJOHqSQzcEQcmA"]
ACADEMY_SPECIALIZATIONS = ["bkGOAmMgBcnpMe6UPeersg", "ZgQNVI9qtwXSwe5wlmscTQ"]


def test_demo_peers_put_the_demo_org_in_every_quartile(loaded):
    org_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    settings = {"industry": "Manufacturing", "company_size": "1001-5000", "region": "NORTH_AMERICA"}
    first = demo.add_demo(org_id, settings, program_id, ACADEMY_COURSES, ACADEMY_SPECIALIZATIONS)
    again = demo.add_demo(org_id, settings, program_id, ACADEMY_COURSES, ACADEMY_SPECIALIZATIONS)
    assert again["attempts"] == first["attempts"]
    with unit_of_work("skills") as uow:
        # other tests' organizations share this database: compare with the demo's peers only
        uow.session.execute(text("DELETE FROM orgs WHERE NOT synthetic AND org_id <> :o"), {"o": org_id})
        answer = queries.benchmark(uow, org_id, {}, SkillsSettings.from_env({}), 200, None)
        assert answer["organizations_in_group"] == len(demo.PEERS)
        assert {i["quartile"] for i in answer["items"]} == {"LAGGING", "EMERGING", "COMPETITIVE", "CUTTING_EDGE"}
        over_time = queries.benchmark_over_time(uow, org_id, {}, None, SkillsSettings.from_env({}), 50, None)
        assert len(over_time["items"]) == demo.MONTHS + 1 and all(i["status"] == "OK" for i in over_time["items"])
        small = queries.benchmark(uow, org_id, {"region": "EUROPE", "industry": "Finance"},
                                  SkillsSettings.from_env({}), 200, None)
        assert small["overall"]["status"] == "GROUP_TOO_SMALL"
        names = uow.session.execute(text("SELECT count(*) FROM people WHERE org_id = :o AND full_name IS NOT NULL"),
                                    {"o": org_id}).scalar()
        assert names == demo.DEMO_LEARNERS
        uow.rollback()
