"""skills in nameko containers (real PostgreSQL and RabbitMQ) with the demo
taxonomy and a small test taxonomy loaded; other services' events are
published by the tests, as their outbox relays would."""
import kombu
import pytest

from contracts.envelope import make_envelope
from servicekit.standalone import unit_of_work
from services.skills.commands import taxonomy

# A small taxonomy with known answers (t- ids never clash with the demo's).
TEST_TAXONOMY = {
    "domains": [{"name": "Test A"}, {"name": "Test B"}],
    "skills": [
        {"id": "t-alpha", "name": "T Alpha", "domain": "Test A", "definition": "Alpha is the first.",
         "sub_skills": ["a1", "a2"]},
        {"id": "t-beta", "name": "T Beta", "domain": "Test B", "definition": "Beta is the second.",
         "sub_skills": []},
    ],
    "courses": [
        {"id": "t-c1", "name": "Course One", "skills": [{"skill_id": "t-alpha", "relevance": 1.0,
                                                        "level": "BEGINNER"}]},
        {"id": "t-c2", "name": "Course Two", "skills": [{"skill_id": "t-beta", "relevance": 1.0,
                                                        "level": "INTERMEDIATE"}]},
        {"id": "t-c3", "name": "Course Three", "skills": [{"skill_id": "t-alpha", "relevance": 0.6,
                                                          "level": "ADVANCED"},
                                                         {"skill_id": "t-beta", "relevance": 0.4,
                                                          "level": "ADVANCED"}]},
    ],
    "specializations": [{"id": "t-spec", "course_ids": ["t-c2", "t-c3"]}],
}


@pytest.fixture
def loaded(service_databases):
    with unit_of_work("skills") as uow:
        taxonomy.load_taxonomy_file(uow, taxonomy.DEMO_TAXONOMY)
        taxonomy.load_taxonomy(uow, TEST_TAXONOMY)
    return True


class Publisher:
    """Publishes events as the other services' outbox relays would."""

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri

    def envelope(self, event, payload, org_id=None):
        return make_envelope(event, payload, source=event.source, org_id=org_id or payload.get("org_id"))

    def send(self, *envelopes):
        with kombu.Connection(self.amqp_uri) as conn:
            producer = conn.Producer()
            for envelope in envelopes:
                exchange = kombu.Exchange(f"{envelope['source']}.events", type="topic", durable=True)
                producer.publish(envelope, exchange=exchange, routing_key=envelope["type"], declare=[exchange],
                                 serializer="json")
        return envelopes

    def __call__(self, event, payload, org_id=None):
        return self.send(self.envelope(event, payload, org_id))[0]


@pytest.fixture
def start_skills(container_factory, rabbit_config, loaded):
    """Start n replicas of the skills service; returns the event publisher."""
    from services.skills.service import SkillsService

    def start(replicas: int = 1):
        for _ in range(replicas):
            # Few workers: the shared PostgreSQL has a bounded number of connections.
            container_factory(SkillsService, {**rabbit_config, "max_workers": 4}).start()
        return Publisher(rabbit_config["AMQP_URI"])

    return start
