"""The reports' configuration (part of reporting's), read when the service starts.

REPORT_LINK_SECRET signs the emailed download links and the gateway's export
tickets (reports.links): its own key, required outside APP_ENV=development
(at least 32 random characters, not an example value), kept only in the
environment: no table or log holds it or a link made with it."""
from dataclasses import dataclass

from servicekit import config
from servicekit.config import Settings, public_url_setting, secret_setting, setting

DEV_REPORT_LINK_SECRET = "dev-only-report-link-secret-0123456789abcdef"


@dataclass(frozen=True)
class ReportsSettings(Settings):
    link_key: bytes = secret_setting("REPORT_LINK_SECRET", DEV_REPORT_LINK_SECRET)
    public_url: str = public_url_setting()  # base of emailed links
    link_ttl_hours: float = setting("REPORT_LINK_TTL_HOURS", 24.0)
    # "Email me the report": links per organization per clock hour (all its admins together), then 429.
    email_links_per_hour: int = setting("REPORT_EMAILS_PER_ORG_PER_HOUR", 30)
    # The internal export server (the gateway streams CSVs from it; never exposed publicly).
    export_host: str = setting("REPORTING_EXPORT_HOST", "127.0.0.1")
    export_port: int = setting("REPORTING_EXPORT_PORT", 0)  # 0: any free port (tests); make run: 9115
    # How the gateway reaches this replica's export server; default http://<host>:<port>.
    export_url: str = setting("REPORTING_EXPORT_URL", "", parse=config.base_url)
    export_concurrency: int = setting("REPORTING_EXPORT_CONCURRENCY", 4)  # exports at once per replica
    # Connections one org report is read with at once (shares of its rows on one snapshot; export.stream).
    export_parts: int = setting("REPORTING_EXPORT_PARTS", 2)
    ticket_ttl_seconds: float = setting("REPORTING_EXPORT_TICKET_SECONDS", 60.0)
    # Schedules: how often each replica looks for due runs, and how long a claimed run may take
    # before another replica takes it over (its claimer is presumed dead).
    schedule_interval: float = setting("REPORT_SCHEDULE_INTERVAL_SECONDS", 30.0)
    run_lease_seconds: float = setting("REPORT_RUN_LEASE_SECONDS", 120.0)
    # Test hook (development mode only): a replica pauses this long after claiming a run, so a
    # test can kill it mid-run.
    run_pause_seconds: float = setting("REPORT_RUN_PAUSE_SECONDS", 0.0)

    def download_link(self, token: str) -> str:
        return f"{self.public_url}/v1/reports/download/{token}"

    def pause_after_claim(self) -> float:
        return self.run_pause_seconds if config.development_mode() else 0.0
