"""Signed report links: round trip, expiry (410), tampering (404), purpose separation."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import AppError, ErrorCode
from services.reporting.reports import links

KEY = b"k" * 32
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CLAIMS = {"org": "o1", "user": "u1", "report": "usage", "programs": None}


def test_round_trip():
    token = links.sign(KEY, links.DOWNLOAD, CLAIMS, NOW + timedelta(hours=24))
    claims = links.verify(KEY, links.DOWNLOAD, token, NOW + timedelta(hours=23, minutes=59))
    assert {k: claims[k] for k in CLAIMS} == CLAIMS


def test_expired_is_gone():
    token = links.sign(KEY, links.DOWNLOAD, CLAIMS, NOW + timedelta(hours=24))
    with pytest.raises(AppError) as caught:
        links.verify(KEY, links.DOWNLOAD, token, NOW + timedelta(hours=24))
    assert caught.value.code == ErrorCode.REPORT_LINK_EXPIRED


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),        # signature changed
    lambda t: ("e" if t[0] != "e" else "f") + t[1:],          # payload changed
    lambda t: t.split(".")[0],                                 # no signature
    lambda t: t + ".x",
    lambda t: "",
    lambda t: "x" * 9000,
])
def test_tampered_is_not_found(tamper):
    token = links.sign(KEY, links.DOWNLOAD, CLAIMS, NOW + timedelta(hours=24))
    with pytest.raises(AppError) as caught:
        links.verify(KEY, links.DOWNLOAD, tamper(token), NOW)
    assert caught.value.code == ErrorCode.NOT_FOUND


def test_a_longer_expiry_cannot_be_forged_without_the_key():
    token = links.sign(KEY, links.DOWNLOAD, CLAIMS, NOW + timedelta(hours=24))
    forged = links.sign(b"x" * 32, links.DOWNLOAD, CLAIMS, NOW + timedelta(days=365))
    assert links.verify(KEY, links.DOWNLOAD, token, NOW)
    with pytest.raises(AppError):
        links.verify(KEY, links.DOWNLOAD, forged, NOW)
    # the payload of one with the signature of the other
    with pytest.raises(AppError):
        links.verify(KEY, links.DOWNLOAD, forged.split(".")[0] + "." + token.split(".")[1], NOW)


def test_an_export_ticket_is_not_a_download_link():
    ticket = links.sign(KEY, links.EXPORT, CLAIMS, NOW + timedelta(minutes=1))
    with pytest.raises(AppError) as caught:
        links.verify(KEY, links.DOWNLOAD, ticket, NOW)
    assert caught.value.code == ErrorCode.NOT_FOUND
