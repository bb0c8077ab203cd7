"""Small rules the gateway's route modules share, written once (gateway/routes/__init__.py, scim.py)."""
from pathlib import Path

import pytest

from contracts.errors import AppError
from gateway.routes import require_changes
from gateway.routes.scim import with_members

ROUTES = Path(__file__).resolve().parents[2] / "gateway" / "routes"


def test_an_empty_patch_is_refused_the_same_way_everywhere():
    with pytest.raises(AppError) as empty:
        require_changes({})
    assert empty.value.code == "INVALID_INPUT" and empty.value.message == "nothing to change"
    assert empty.value.details == {"_schema": ["send at least one field"]}
    require_changes({"name": "x"})
    written = [path.name for path in ROUTES.glob("*.py") if '"nothing to change"' in path.read_text(encoding="utf-8")]
    assert written == ["__init__.py"]


@pytest.mark.parametrize("excluded, expected", [(None, True), ("", True), ("members", False), ("Members", False),
                                                ("displayName,members", False), ("displayName", True)])
def test_scim_groups_leave_out_members_only_when_asked(excluded, expected):
    assert with_members({"excludedAttributes": excluded} if excluded is not None else {}) is expected
