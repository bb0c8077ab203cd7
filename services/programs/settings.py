"""programs' configuration, read once when the service starts (not at import)."""
from dataclasses import dataclass

from servicekit.config import Settings, public_url_setting


@dataclass(frozen=True)
class ProgramsSettings(Settings):
    public_url: str = public_url_setting()  # base of join URLs
