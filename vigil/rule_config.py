"""The `rules:` section of the config: one schema per rule kind, sharing the common filters."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from alerts import Severity
from alerts.schedule import Schedule

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleConfig(_Section):
    """Armed hours: `{days: [mon, …], start: "22:00", end: "06:00", timezone: Europe/Paris}`."""

    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], min_length=1)
    start: str = "00:00"
    end: str = "00:00"
    """A window may cross midnight; equal start and end arm the whole day."""
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _parses(self) -> ScheduleConfig:
        self.to_schedule()
        return self

    def to_schedule(self) -> Schedule:
        return Schedule.parse(self.days, self.start, self.end, self.timezone)


class _RuleBase(_Section):
    name: Name
    enabled: bool = True
    classes: list[str] = Field(min_length=1)
    """Classes of the (remapped) model the rule looks at."""
    cameras: list[str] | None = None
    """Cameras the rule watches; when omitted, every camera (that has the rule's zone or line)."""
    min_score: float | None = Field(None, ge=0, le=1)
    """Threshold on the median of the track's recent scores, not on one frame; when omitted, each class's
    `detector.class_conf`, else `detector.conf`: the scores the model gives."""
    score_window: PositiveInt = 5
    """How many recent scores of a track the median is taken over."""
    min_area: float = Field(0.0, ge=0, le=1)
    """Smallest box, as a fraction of the frame's area."""
    max_area: float = Field(1.0, gt=0, le=1)
    cooldown_s: float = Field(30.0, ge=0)
    """After an alert, the same rule raises no new alert on the same camera for this long."""
    clear_after_s: PositiveFloat = 2.0
    """A track unseen this long is gone: its alert ends and its state is dropped."""
    schedule: ScheduleConfig | None = None
    """Armed hours; always armed when omitted."""
    severity: Severity = Severity.WARNING
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    """The point of the box that must be in a zone or cross a line."""

    @model_validator(mode="after")
    def _area_range(self):
        if self.min_area >= self.max_area:
            raise ValueError(f"min_area {self.min_area} must be below max_area {self.max_area}")
        return self


class PresenceRuleConfig(_RuleBase):
    """A tracked object in view (or in `zone`) for `min_duration_s`."""

    kind: Literal["presence"]
    zone: Name | None = None
    min_duration_s: float = Field(1.0, ge=0)
    inertia_frames: PositiveInt = 3


class DwellRuleConfig(_RuleBase):
    """Loitering: one track inside `zone` for `min_dwell_s`; leaving resets the timer."""

    kind: Literal["dwell"]
    zone: Name
    min_dwell_s: PositiveFloat
    inertia_frames: PositiveInt = 3


class LineCrossingRuleConfig(_RuleBase):
    """A track crossing `line` in `direction` (`in` is left → right looking from the line's start to its end)."""

    kind: Literal["line_crossing"]
    line: Name
    direction: Literal["in", "out", "both"] = "both"
    min_crossing_frames: PositiveInt = 2
    cooldown_s: float = Field(0.0, ge=0)


class OccupancyRuleConfig(_RuleBase):
    """Crowding: at least `min_count` tracks inside `zone` for `min_duration_s`."""

    kind: Literal["occupancy"]
    zone: Name
    min_count: PositiveInt = 2
    min_duration_s: float = Field(1.0, ge=0)
    inertia_frames: PositiveInt = 3


RuleConfig = Annotated[
    PresenceRuleConfig | DwellRuleConfig | LineCrossingRuleConfig | OccupancyRuleConfig,
    Field(discriminator="kind"),
]
