"""The kit knows the services by their folders, not by a list of names."""
from pathlib import Path

from servicekit import config

ROOT = Path(__file__).resolve().parents[2]


def test_services_are_the_folders_with_a_service_module():
    assert config.service_names() == tuple(sorted(p.parent.name for p in (ROOT / "services").glob("*/service.py")))
    assert {"identity", "programs", "invitations", "messaging"} <= set(config.service_names())


def test_ops_port_is_the_services_own_then_the_shared_then_a_free_one(monkeypatch):
    monkeypatch.delenv("OPS_PORT", raising=False)
    monkeypatch.delenv("NEWSERVICE_OPS_PORT", raising=False)
    assert config.ops_port("newservice") == 0
    monkeypatch.setenv("OPS_PORT", "9200")
    assert config.ops_port("newservice") == 9200
    monkeypatch.setenv("NEWSERVICE_OPS_PORT", "9201")
    assert config.ops_port("newservice") == 9201


def test_a_new_service_gets_its_database_url_from_its_name(monkeypatch):
    monkeypatch.delenv("NEWSERVICE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_PREFIX", "p_")
    assert config.database_url("newservice").endswith("/p_newservice")
