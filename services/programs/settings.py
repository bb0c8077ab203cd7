"""programs' configuration, read once when the service starts (not at import)."""
from dataclasses import dataclass

from servicekit.config import Settings, setting


def _base_url(raw: str) -> str:
    return raw.rstrip("/")


@dataclass(frozen=True)
class ProgramsSettings(Settings):
    public_url: str = setting("PUBLIC_URL", "http://127.0.0.1:8000", parse=_base_url)  # base of join URLs
