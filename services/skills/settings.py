"""skills' configuration, read once when the service starts (docs/skills.md lists every parameter)."""
from dataclasses import dataclass

from servicekit.config import Settings, setting
from services.skills.rating import DEFAULT_TAU, Scale


@dataclass(frozen=True)
class SkillsSettings(Settings):
    tau: float = setting("SKILLS_TAU", DEFAULT_TAU)  # Glicko-2 system constant
    intermediate_from: float = setting("SKILLS_INTERMEDIATE_FROM", 200.0)  # score thresholds of the levels
    advanced_from: float = setting("SKILLS_ADVANCED_FROM", 350.0)
    score_spread: float = setting("SKILLS_SCORE_SPREAD", 400.0)  # rating points per factor 10 of odds
    # Assessment difficulties are recalibrated (then every rating recomputed) at most this often.
    calibration_interval_hours: float = setting("SKILLS_CALIBRATION_INTERVAL_HOURS", 24.0)
    calibration_check_seconds: float = setting("SKILLS_CALIBRATION_CHECK_SECONDS", 300.0)
    snapshot_interval_seconds: float = setting("SKILLS_SNAPSHOT_INTERVAL_SECONDS", 3600.0)
    benchmark_min_group: int = setting("SKILLS_BENCHMARK_MIN_GROUP", 5)  # other organizations, asker not counted
    benchmark_top_skills: int = setting("SKILLS_BENCHMARK_TOP_SKILLS", 10)  # "overall": mean over these

    @property
    def scale(self) -> Scale:
        return Scale(self.score_spread, self.intermediate_from, self.advanced_from)
