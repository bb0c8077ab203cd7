"""programs' configuration, read once when the service starts (not at import)."""
from dataclasses import dataclass

from nameko.extensions import DependencyProvider

from servicekit import config


@dataclass(frozen=True)
class ProgramsSettings:
    public_url: str  # base of join URLs (PUBLIC_URL)
    identity_timeout_seconds: float = 5.0  # a join asks identity for a name at most this long

    @classmethod
    def from_env(cls) -> "ProgramsSettings":
        return cls(public_url=config.public_url())


class Settings(DependencyProvider):
    """`settings = Settings()` on the service: the ProgramsSettings read at container setup."""

    def setup(self):
        self.settings = ProgramsSettings.from_env()

    def get_dependency(self, worker_ctx) -> ProgramsSettings:
        return self.settings
