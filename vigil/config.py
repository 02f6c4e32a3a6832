"""The configuration file: schema, `${ENV}` substitution, and errors that name the field."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, IPvAnyNetwork, PositiveFloat, PositiveInt, ValidationError, field_validator,
    model_validator,
)

from detector import DEFAULT_LABELS, DEFAULT_MODEL
from detector.tracking import TrackerSettings
from streamer.backoff import ReconnectPolicy
from streamer.motion import MotionSettings
from streamer.reader import DEFAULT_DETECT_FPS
from streamer.redaction import add_secrets, redact_text, url_secrets
from alerts.store import is_database_url
from streamer.source import NETWORK_SCHEMES
from vigil.cluster_config import ClusterConfig
from vigil.notify_config import NotifyConfig, notify_problems
from vigil.rule_config import Name, RuleConfig

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]
"""x, y as fractions of the frame's width and height, origin top-left."""
MAX_POLYGON_POINTS = 100
"""More is never drawn by hand, and each point costs every frame's zone test."""
MAX_SHAPES_PER_CAMERA = 50
Polygon = Annotated[list[Point], Field(min_length=3, max_length=MAX_POLYGON_POINTS)]
Segment = Annotated[list[Point], Field(min_length=2, max_length=2)]
_MAX_ECHO_CHARS = 80
"""Longest bad value repeated in an error message."""
_MIN_SCRUBBED_CHARS = 3
"""Environment values this short are not scrubbed out of messages: they would garble them and hide nothing."""


EXIT_BAD_CONFIG = 2
"""Exit status of every `vigil` command given an unusable config."""


def report_problems(path: str | Path, problems: list[str]) -> int:
    """Print each problem as `PATH: problem` on stderr; returns EXIT_BAD_CONFIG."""
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return EXIT_BAD_CONFIG


class ConfigError(ValueError):
    """The config file is unusable; `problems` holds one line per bad field."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


_MOTION = MotionSettings()


class MotionConfig(_Section):
    """Motion gating: a sampled frame goes to the detector only when something moves or is tracked."""

    enabled: bool = _MOTION.enabled
    threshold: int = Field(_MOTION.threshold, ge=1, le=255)
    """Grey-level difference from the background (after blur) that counts as movement; sensor noise stays far below."""
    min_area: Fraction = _MOTION.min_area
    """Smallest moving blob, as a fraction of the frame's area."""
    mask: list[Polygon] = Field(default_factory=list, max_length=MAX_SHAPES_PER_CAMERA)
    """Polygons in relative coordinates (as zones) whose motion is ignored."""
    check_every_s: PositiveFloat = _MOTION.check_every_s
    """With nothing moving or tracked, one frame per this many stream seconds still goes to the detector."""
    tracked_check_s: PositiveFloat = _MOTION.tracked_check_s
    """With nothing moving but an object tracked (it stands still), one frame per this many stream seconds: keep it
    below `detector.tracker.lost_track_s` and the rules' `clear_after_s`, or still objects lose their tracks."""

    def overridden_by(self, override: MotionConfig | None) -> MotionConfig:
        """These settings with the keys given in `override` (a camera's `motion:`) replaced."""
        if override is None:
            return self
        return self.model_copy(update={key: getattr(override, key) for key in override.model_fields_set})

    def settings(self) -> MotionSettings:
        """The frozen form a camera reader takes."""
        return MotionSettings(
            enabled=self.enabled,
            threshold=self.threshold,
            min_area=self.min_area,
            mask=tuple(tuple(polygon) for polygon in self.mask),
            check_every_s=self.check_every_s,
            tracked_check_s=self.tracked_check_s,
        )


class RetainConfig(_Section):
    days: PositiveFloat | None = 7.0
    """Footage older than this is deleted, except around alerts; kept until disk space runs short when null."""
    events_days: PositiveFloat | None = None
    """Footage around an alert is kept this long; as long as the alert itself when omitted."""


class RecordConfig(_Section):
    """Recording of each camera's main stream (`url`) by stream copy into MP4 segments, indexed in the database."""

    enabled: bool = True
    mode: Literal["continuous", "events"] = "continuous"
    """`events`: only the footage around alerts (`storage.clips` pre_s/post_s) is kept."""
    segment_s: float = Field(10.0, ge=1, le=60)
    """A segment ends at the first keyframe after this many seconds."""
    retain: RetainConfig = RetainConfig()
    max_disk_gb: PositiveFloat | None = None
    """All cameras' recordings together; past it the oldest go first (top level only)."""

    def overridden_by(self, override: RecordConfig | None) -> RecordConfig:
        """These settings with the keys given in `override` (a camera's `record:`) replaced."""
        if override is None:
            return self
        return self.model_copy(update={key: getattr(override, key) for key in override.model_fields_set})


class CameraConfig(_Section):
    url: str
    """A file path, or rtsp://, rtsps://, http:// or https:// URL (credentials may use ${ENV})."""
    detect_url: str | None = None
    """A low-resolution sub-stream the detector reads instead of `url`; zones are relative, so they hold on both."""
    detect_fps: PositiveFloat = DEFAULT_DETECT_FPS
    """Frames per second sent to the detector, sampled by timestamp."""
    loop: bool = False
    """Files only: start again at the end."""
    realtime: bool = True
    """Files only: pace frames at their recorded rate, as a live camera would."""
    open_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = 10.0
    """A stream silent for this long counts as stalled and is reopened."""
    reconnect: ReconnectPolicy = ReconnectPolicy()
    zones: dict[Name, Polygon] = Field(default_factory=dict, max_length=MAX_SHAPES_PER_CAMERA)
    """Polygons in relative coordinates (0–1, origin top-left); concave is fine."""
    lines: dict[Name, Segment] = Field(default_factory=dict, max_length=MAX_SHAPES_PER_CAMERA)
    """Directed segments start → end in relative coordinates."""
    motion: MotionConfig | None = None
    """The keys given here replace those of the top-level `motion` for this camera."""
    record: RecordConfig | None = None
    """The keys given here replace those of the top-level `record` for this camera."""

    @field_validator("url", "detect_url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if "://" in url:
            scheme = url.split("://", 1)[0].lower()
            if scheme not in NETWORK_SCHEMES and scheme != "file":
                raise ValueError(f"unsupported URL scheme {scheme!r}; use a file path or one of {', '.join(NETWORK_SCHEMES)}")
        if not url.strip():
            raise ValueError("empty URL")
        return url.removeprefix("file://")


_PostedFraction = Annotated[float, Field(strict=True, ge=0, le=1)]
_PostedPoint = tuple[_PostedFraction, _PostedFraction]


class PostedShapes(_Section):
    """A camera's zones and lines as the dashboard's editor sends them: numbers only, checked before any merge."""

    zones: dict[Name, Annotated[list[_PostedPoint], Field(min_length=3, max_length=MAX_POLYGON_POINTS)]] = Field(
        default_factory=dict, max_length=MAX_SHAPES_PER_CAMERA)
    lines: dict[Name, Annotated[list[_PostedPoint], Field(min_length=2, max_length=2)]] = Field(
        default_factory=dict, max_length=MAX_SHAPES_PER_CAMERA)

    @classmethod
    def parse(cls, camera: str, zones: Any, lines: Any, path: str | Path) -> PostedShapes:
        """Raises ConfigError naming each bad field as `cameras.CAMERA.zones.NAME…`."""
        try:
            return cls.model_validate({"zones": zones, "lines": lines})
        except ValidationError as error:
            nothing_substituted = Substituted(None, {}, {})
            raise ConfigError(path, [
                f"cameras.{camera}." + _format_error(e, nothing_substituted) for e in error.errors(include_url=False)
            ]) from None


def _check_device(device: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?|\d+", device):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    return device


class DetectorConfig(_Section):
    model: str = DEFAULT_MODEL
    """`default` (bundled person/fall YOLOv8s) or any Ultralytics weights path or name."""
    imgsz: PositiveInt = 640
    conf: float = Field(0.35, ge=0, le=1)
    """Boxes scored under this are not reported; also the score a rule without `min_score` asks for."""
    class_conf: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Per class, the score a rule without `min_score` asks for instead of `conf` (e.g. `fallen_person: 0.7`)."""
    iou: float = Field(0.5, ge=0, le=1)
    device: str | Annotated[list[str], Field(min_length=1)] = "auto"
    """`auto` (every CUDA GPU when there is one, else the CPU), `cpu`, `cuda:0`, or a list such as
    `[cuda:0, cuda:1]`: one batcher per device, each camera on the least-loaded one."""
    backend: Literal["auto", "pytorch", "openvino", "onnx", "tensorrt"] = "auto"
    """`auto`: TensorRT on CUDA when installed, else PyTorch; OpenVINO on CPU. Exports are cached in the registry."""
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    """`auto`: fp16 on CUDA, fp32 on CPU. int8 is calibrated on site frames and used only if it agrees with fp32."""
    int8_min_agreement: float = Field(0.9, ge=0, le=1)
    """Box agreement with fp32 (IoU 0.5) each class must reach on held-out site frames for int8 to be used."""
    calibration_frames: PositiveInt = 80
    """Site frames int8 is calibrated on; half as many more are held out to check it."""
    max_batch: PositiveInt | None = None
    """Most frames per inference call: 16 on CUDA, 4 on CPU when omitted (on a CPU a frame costs the same in a
    batch of 16 as alone, so a big batch only adds latency)."""
    max_wait_ms: float = Field(25.0, ge=0)
    cpu_threads: PositiveInt | None = None
    """Torch threads for CPU inference; all cores when omitted."""
    agnostic_nms: bool = True
    """One box per object even when two classes score it (e.g. person and fallen_person)."""
    labels: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LABELS))
    """Model class name → name used in rules and alerts."""
    tracker: TrackerSettings = TrackerSettings()

    def batch_limit(self, device: str) -> int:
        """`max_batch`, or the default for `device`."""
        return self.max_batch or (16 if device.startswith("cuda") or device.isdigit() else 4)

    @field_validator("device")
    @classmethod
    def _known_devices(cls, device: str | list[str]) -> str | list[str]:
        for one in [device] if isinstance(device, str) else device:
            _check_device(one)
        return device

    @model_validator(mode="after")
    def _class_conf_reachable(self) -> DetectorConfig:
        for name, score in self.class_conf.items():
            if score < self.conf:
                raise ValueError(f"class_conf.{name}: {score:g} is below conf {self.conf:g}, and boxes scored "
                                 "under conf are never reported; raise it or lower conf")
        return self

    def rule_score(self, class_name: str) -> float:
        """The score a rule without `min_score` asks of `class_name`."""
        return self.class_conf.get(class_name, self.conf)


class ClipConfig(_Section):
    pre_s: float = Field(3.0, ge=0)
    """Seconds of video before the alert starts."""
    post_s: float = Field(3.0, ge=0)
    """Seconds of video after the alert ends."""
    max_s: PositiveFloat = 120.0
    """A clip is cut at this length, however long the alert lasts."""


class StorageConfig(_Section):
    database: str = "data/vigil.db"
    """A SQLite file, or a PostgreSQL URL: postgresql+psycopg://vigil:${DB_PASSWORD}@db.lan/vigil."""
    state_dir: str | None = None
    """Where the files kept beside the database go (the store's write journal, the dashboard's session key, the
    score profile): the SQLite file's folder by default, `data` for a database URL."""
    media_dir: str = "data/media"
    recordings_dir: str = "data/recordings"
    """Recorded segments: `CAMERA/YYYY-MM-DD/HH/MMSS.mmm.mp4`, in UTC."""
    retention_days: PositiveFloat | None = None
    """Resolved and false-positive alerts older than this are deleted with their media; kept forever when omitted."""
    min_free_mb: float = Field(500.0, ge=0)
    """Below this much free disk space, the oldest recordings are deleted and clips are skipped (alerts and
    snapshots are still written)."""
    clips: ClipConfig = ClipConfig()

    @field_validator("database")
    @classmethod
    def _known_database(cls, database: str) -> str:
        if is_database_url(database) and not database.startswith("postgresql+psycopg://"):
            raise ValueError(f"unsupported database URL scheme {database.split('://', 1)[0]!r}; use a SQLite file "
                             "path or postgresql+psycopg://user:password@host/database")
        return database

    @property
    def state(self) -> Path:
        """The folder of the files kept beside the database."""
        if self.state_dir is not None:
            return Path(self.state_dir)
        return Path("data") if is_database_url(self.database) else Path(self.database).parent

    @property
    def base_name(self) -> str:
        """What the files beside the database are named after: the SQLite file's name, or `vigil`."""
        return "vigil" if is_database_url(self.database) else Path(self.database).name

    @property
    def secret_key(self) -> Path:
        """The dashboard's session-signing key, beside the database: whoever reads it can forge any login."""
        return self.state / "dashboard-secret.key"

    @property
    def score_profile(self) -> Path:
        """Where `vigil run` keeps the model's recent score distribution per class, for `vigil check-config`."""
        return self.state / f"{self.base_name}.scores.json"

    @property
    def journal_dir(self) -> Path:
        """The store writer's journal of writes the database could not take yet."""
        return self.state / f"{self.base_name}.journal"


class DashboardConfig(_Section):
    host: str = "127.0.0.1"
    """127.0.0.1 serves this machine only; put a TLS proxy in front before opening it to a network."""
    port: int = Field(8080, ge=0, le=65535)
    """0 picks a free port (tests)."""
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client; nobody else's is believed."""
    page_threads: int = Field(8, ge=2, le=256)
    """Request threads for pages and the API, kept free whatever the live streams do."""
    live_max_streams: int = Field(64, ge=1, le=1024)
    """Live streams open at once over all viewers; each holds a thread of its own."""
    live_max_streams_per_user: int = Field(32, ge=1, le=1024)
    connection_limit: int = Field(1000, ge=10, le=100_000)
    """Open connections at once; past it new ones wait in the listen queue (raise the open-files limit to match)."""
    idle_timeout_s: int = Field(20, ge=1, le=3600)
    """A connection that sends nothing for this long between requests is closed (slow or half-open clients)."""
    live_max_fps: PositiveFloat = 5.0
    """Most frames per second sent to each live viewer."""
    live_jpeg_quality: int = Field(80, ge=10, le=100)
    live_show_motion: bool = False
    """Outline where each camera moved on its live view: for tuning `motion.threshold`, `min_area` and masks."""
    session_idle_min: PositiveFloat = 60.0
    """A login ends after this many minutes without a request."""
    session_max_hours: PositiveFloat = 12.0
    """and this many hours after it was made, however busy."""
    secure_cookies: bool = False
    """Send the session cookie over HTTPS only: turn on when a TLS proxy serves the dashboard."""


class PseudoLabelConfig(_Section):
    """The current model's boxes kept as labels for classes an import did not label."""

    min_score: float = Field(0.35, ge=0, le=1)
    """The detector's default operating confidence: what the live model reports is what a candidate must keep."""
    class_min_score: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Per-class minimum, e.g. `fallen_person: 0.7` where the model over-scores a class."""


class GateConfig(_Section):
    """When a candidate may replace the live model, judged on the same held-out frames."""

    metric: Literal["ap50", "ap50_95", "precision", "recall"] = "ap50"
    """What the taught classes are judged on, against the labels people drew."""
    min_gain: float = Field(0.02, ge=0, le=1)
    """Each class the dataset teaches must improve by more than this."""
    max_old_class_drop: float = Field(0.05, ge=0, le=1)
    """Each other class may lose at most this much: on `metric` where people labelled it, else on recall of the
    live model's own boxes at the operating confidence."""


class RetrainingScheduleConfig(_Section):
    """Periodic retraining inside `vigil run`: feedback, train, gated promotion."""

    dataset: Name
    every_days: PositiveFloat = 7.0
    at: str = "03:00"
    """Local time of day (HH:MM) when a due run starts."""
    feedback: bool = True
    """Take in reviewed alerts first."""

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, at: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", at):
            raise ValueError(f"time of day {at!r} must be HH:MM (00:00–23:59)")
        return at


class FinetuneConfig(_Section):
    """Defaults of `vigil finetune` and of retraining from the dashboard."""

    datasets_dir: str = "data/datasets"
    models_dir: str = "data/models"
    runs_dir: str = "data/finetune"
    epochs: PositiveInt = 30
    imgsz: PositiveInt = 640
    batch: PositiveInt = 8
    freeze: int = Field(10, ge=0)
    """Layers kept frozen; 10 is the backbone of YOLOv8/11."""
    lr0: PositiveFloat = 0.001
    warmup_epochs: float = Field(3.0, ge=0)
    """Epochs over which the learning rate ramps up (at most epochs - 1)."""
    optimizer: Literal["AdamW", "Adam", "SGD"] = "AdamW"
    patience: PositiveInt = 5
    """Stop when the taught classes' validation AP50 has not improved for this many epochs."""
    time_budget_min: PositiveFloat | None = None
    """Most minutes of training per job: no epoch starts that would end past it (no limit when omitted)."""
    seed: int = 0
    device: str = "auto"
    val_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the frames held out for the gate: whole clips when there are enough, else a window of each clip."""
    guard_s: float = Field(2.0, ge=0)
    """Training frames this close to a held-out frame of the same clip are left out."""
    max_background_share: float = Field(0.1, ge=0, lt=1)
    """Most of the training set that false-positive frames may make up."""
    max_upload_mb: PositiveFloat = 2048.0
    pseudo_labels: PseudoLabelConfig = PseudoLabelConfig()
    gate: GateConfig = GateConfig()
    schedule: RetrainingScheduleConfig | None = None

    _known_device = field_validator("device")(_check_device)


class WorkersConfig(_Section):
    """The camera workers: tracking, rules, live view and clips run there, off the inference thread."""

    threads: PositiveInt = 2
    """Each camera is always served by the same one of these threads."""
    queue_frames: PositiveInt = 64
    """Detected frames a worker may fall behind by; past that its oldest is dropped and counted."""


class VigilConfig(_Section):
    cameras: dict[Name, CameraConfig] = Field(min_length=1)
    detector: DetectorConfig = DetectorConfig()
    motion: MotionConfig = MotionConfig()
    workers: WorkersConfig = WorkersConfig()
    rules: list[RuleConfig] = Field(default_factory=list)
    record: RecordConfig = RecordConfig()
    storage: StorageConfig = StorageConfig()
    dashboard: DashboardConfig = DashboardConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    notify: NotifyConfig = NotifyConfig()
    cluster: ClusterConfig | None = None
    """Set, `vigil run` runs on a Ray cluster; unset (the default), in this one process."""
    log_interval_s: PositiveFloat = 10.0
    """How often `vigil run` logs one status line per camera."""

    def recording(self, camera: str) -> RecordConfig | None:
        """How `camera` is recorded, or None when recording is off for it."""
        record = self.record.overridden_by(self.cameras[camera].record)
        return record if record.enabled else None


def _cross_reference_problems(config: VigilConfig) -> list[str]:
    problems = [
        f"rules.{i}.cameras.{j}: unknown camera {camera!r}"
        for i, rule in enumerate(config.rules)
        for j, camera in enumerate(rule.cameras or [])
        if camera not in config.cameras
    ]
    for i, rule in enumerate(config.rules):
        for field in ("zone", "line"):
            shape = getattr(rule, field, None)
            if shape is None:
                continue
            having = [name for name, camera in config.cameras.items() if shape in getattr(camera, f"{field}s")]
            for camera in rule.cameras or []:
                if camera in config.cameras and camera not in having:
                    problems.append(f"rules.{i}.{field}: camera {camera!r} has no {field} {shape!r}")
            if not having:
                problems.append(f"rules.{i}.{field}: no camera has a {field} {shape!r}")
    lost_track_s = config.detector.tracker.lost_track_s
    motions = {"motion": config.motion} | {
        f"cameras.{name}.motion": config.motion.overridden_by(camera.motion)
        for name, camera in config.cameras.items() if camera.motion is not None
    }
    problems += [
        f"{where}.tracked_check_s: {motion.tracked_check_s:g} s must be below detector.tracker.lost_track_s "
        f"({lost_track_s:g} s), or objects that stand still lose their tracks between checks"
        for where, motion in motions.items()
        if motion.enabled and motion.tracked_check_s >= lost_track_s
    ]
    problems += [
        f"cameras.{name}.record.max_disk_gb: the disk budget is shared by all cameras; set it in the top-level record"
        for name, camera in config.cameras.items()
        if camera.record is not None and "max_disk_gb" in camera.record.model_fields_set
    ]
    names = [rule.name for rule in config.rules]
    problems += [f"rules.{i}.name: duplicate rule name {n!r}" for i, n in enumerate(names) if n in names[:i]]
    problems += notify_problems(config.notify, set(config.cameras), set(names))
    if config.cluster is not None and not is_database_url(config.storage.database):
        problems.append("storage.database: a cluster's nodes write to one database: give a postgresql+psycopg:// URL "
                        "(a SQLite file belongs to one machine)")
    return problems


@dataclass(frozen=True, slots=True)
class Substituted:
    """A config document after `${ENV}` substitution, with what came from the environment (never to be echoed)."""

    document: Any
    from_env: dict[str, str]
    """Dotted field path → the variable name its value came from."""
    values: dict[str, str]
    """Each substituted value → its variable name."""

    def scrub(self, text: str) -> str:
        """`text` with every substituted value written back as its `${NAME}`."""
        for value, name in sorted(self.values.items(), key=lambda item: -len(item[0])):
            if len(value) >= _MIN_SCRUBBED_CHARS:
                text = text.replace(value, f"${{{name}}}")
        return text


def substitute_env(raw: Any, path: str | Path) -> Substituted:
    """Replace `${NAME}` in the document's strings by the environment's value; raises ConfigError for unset names.

    Only a file's own text may be substituted: values posted through the dashboard are merged after this.
    """
    problems: list[str] = []
    from_env: dict[str, str] = {}
    values: dict[str, str] = {}

    def substitute(value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: substitute(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v, f"{where}.{i}") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                problems.append(f"{where}: environment variable {name} is not set")
                return ""
            from_env[where] = name
            values[os.environ[name]] = name
            return os.environ[name]

        return _ENV_REFERENCE.sub(lookup, value)

    document = substitute(raw, "")
    if problems:
        raise ConfigError(path, problems)
    return Substituted(document, from_env, values)


def _format_error(error: dict[str, Any], substituted: Substituted) -> str:
    parts = [str(part) for part in error["loc"] if not str(part).startswith("function-after")]
    if parts[:1] == ["rules"] and len(parts) > 2:
        del parts[2]  # the rule kind pydantic adds for the tagged union: rules.0.dwell.zone → rules.0.zone
    location = ".".join(parts)
    message = substituted.scrub(error["msg"].removeprefix("Value error, "))
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown key"
    if error["type"] == "missing":
        return f"{location}: required"
    if error["type"] == "union_tag_invalid":
        return f"{location}.kind: unknown kind {error['ctx']['tag']!r}; expected {error['ctx']['expected_tags']}"
    if not location:
        return message
    names = {name for where, name in substituted.from_env.items()
             if _nested(location, where) or _nested(where, location)}
    if names:
        return f"{location}: {message} (the value comes from ${{{', '.join(sorted(names))}}} and is not shown)"
    if _may_hold_a_secret(location, error["input"]):
        return f"{location}: {message} (the value is not shown: it may hold a token or password)"
    return f"{location}: {message} (got {_echo(error['input'], substituted)})"


def _may_hold_a_secret(location: str, value: Any) -> bool:
    """A webhook secret, a notification URL (Apprise and webhook URLs carry tokens in their host and path), or a
    section or list holding one."""
    def holds(value: Any) -> bool:
        if isinstance(value, dict):
            return bool({"url", "secret"} & set(value)) or any(holds(v) for v in value.values())
        return isinstance(value, list) and any(holds(v) for v in value)

    return (location == "notify" or location.startswith("notify.")) and (
        location.rsplit(".", 1)[-1] in ("url", "secret") or holds(value))


def _nested(inner: str, outer: str) -> bool:
    """Whether dotted field path `inner` is `outer` or lies inside it."""
    return inner == outer or inner.startswith(outer + ".")


def _echo(value: Any, substituted: Substituted) -> str:
    text = substituted.scrub(redact_text(repr(value)))
    return text if len(text) <= _MAX_ECHO_CHARS else text[:_MAX_ECHO_CHARS] + f"… ({len(text)} characters)"


def _resolve_paths(config: VigilConfig, base: Path) -> VigilConfig:
    def resolve(path: str) -> str:
        return str(path if Path(path).is_absolute() else base / path)

    for camera in config.cameras.values():
        if "://" not in camera.url:
            camera.url = resolve(camera.url)
        if camera.detect_url is not None and "://" not in camera.detect_url:
            camera.detect_url = resolve(camera.detect_url)
    if config.detector.model != DEFAULT_MODEL and (base / config.detector.model).exists():
        config.detector.model = resolve(config.detector.model)
    if not is_database_url(config.storage.database):
        config.storage.database = resolve(config.storage.database)
    config.storage.state_dir = resolve(str(config.storage.state))
    config.storage.media_dir = resolve(config.storage.media_dir)
    config.storage.recordings_dir = resolve(config.storage.recordings_dir)
    tls = config.notify.mqtt and config.notify.mqtt.tls
    if tls:
        for name in ("ca_file", "cert_file", "key_file"):
            if getattr(tls, name) is not None:
                setattr(tls, name, resolve(getattr(tls, name)))
    for folder in ("datasets_dir", "models_dir", "runs_dir"):
        setattr(config.finetune, folder, resolve(getattr(config.finetune, folder)))
    return config


def on_cluster(config: VigilConfig, address: str, path: str | Path) -> VigilConfig:
    """`config` run on the Ray cluster at `address` (`vigil run --cluster`), its `cluster:` section kept otherwise.

    Raises ConfigError when the address is not one or the database cannot be shared."""
    try:
        cluster = ClusterConfig.model_validate({**(config.cluster.model_dump() if config.cluster else {}),
                                               "address": address})
    except ValidationError as error:
        raise ConfigError(path, [f"--cluster: {e['msg']} (got {address!r})" for e in error.errors()]) from None
    clustered = config.model_copy(update={"cluster": cluster})
    problems = [p for p in _cross_reference_problems(clustered) if p.startswith("storage.database")]
    if problems:
        raise ConfigError(path, problems)
    return clustered


def load_config(path: str | Path) -> VigilConfig:
    """Read, substitute and validate the config; relative paths are taken from the file's folder. Camera passwords
    and every environment value inside a camera URL are handed to the log and error redaction.

    Raises ConfigError listing every problem as `field.path: message (got value)`.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(path, [f"cannot read: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, [f"not valid YAML: {error}"]) from None
    substituted = substitute_env(raw, path)
    config = _resolve_paths(validate_substituted(substituted, path), path.resolve().parent)
    urls = [url for camera in config.cameras.values() for url in (camera.url, camera.detect_url) if url]
    urls += [sink.url for _, _, sink in config.notify.sinks()]
    urls += [config.storage.database] if is_database_url(config.storage.database) else []
    in_urls = [value for value in substituted.values if any(value in url for url in urls)]  # tokens in paths too
    notify_secrets = [hook.secret for hook in config.notify.webhooks]
    notify_secrets += [secret for sink in [*config.notify.webhooks, *config.notify.apprise]
                       for secret in token_parts(sink.url)]
    add_secrets([*in_urls, *(secret for url in urls for secret in url_secrets(url)), *notify_secrets])
    problems = _media_dir_problems(config.storage) + _missing_tls_files(config)
    if problems:
        raise ConfigError(path, problems)
    return config


def _missing_tls_files(config: VigilConfig) -> list[str]:
    tls = config.notify.mqtt and config.notify.mqtt.tls
    if not tls:
        return []
    files = {name: getattr(tls, name) for name in ("ca_file", "cert_file", "key_file")}
    return [f"notify.mqtt.tls.{name}: no such file {path!r}" for name, path in files.items()
            if path is not None and not Path(path).is_file()]


def token_parts(url: str) -> list[str]:
    """What a webhook or Apprise URL may hide a token in: its path and query, and each part of it long enough to be
    a token; for Apprise, whose services put bot tokens and keys in the host too, everything after the scheme.

    Example:
        >>> token_parts("tgram://123456789:AAE-bot-token/-100200300")
        ['123456789:AAE-bot-token/-100200300', '123456789:AAE-bot-token', '-100200300']
        >>> token_parts("https://hooks.example/services/T01ABCDEF/B02GHIJKL")
        ['/services/T01ABCDEF/B02GHIJKL', 'services', 'T01ABCDEF', 'B02GHIJKL']
    """
    scheme, _, rest = url.partition("://")
    if scheme in ("http", "https"):
        rest = rest[len(rest.split("/", 1)[0]):]  # the host of a webhook is not secret; its path may be
    return [rest, *(part for part in re.split(r"[/@?&=#]", rest) if len(part) >= 8)] if rest else []


def _media_dir_problems(storage: StorageConfig) -> list[str]:
    """The dashboard serves media and footage: a folder over the database's would hand out the database and the
    session key beside it (and with the key, any login)."""
    private = storage.secret_key.resolve().parent
    problems = []
    for field, default in (("media_dir", "data/media"), ("recordings_dir", "data/recordings")):
        folder = Path(getattr(storage, field)).resolve()
        if private == folder or folder in private.parents:
            problems.append(f"storage.{field}: {getattr(storage, field)!r} contains the database's folder "
                            f"({private}), which holds the database and the dashboard's secret key; keep it in a "
                            f"folder of its own, such as {default}")
    return problems


def validate_document(raw: Any, path: str | Path) -> VigilConfig:
    """Substitute `${ENV}` references in a parsed config document and validate it, paths left as written.

    Raises ConfigError listing every problem as `field.path: message (got value)`.
    """
    return validate_substituted(substitute_env(raw, path), path)


def validate_substituted(substituted: Substituted, path: str | Path) -> VigilConfig:
    """Validate a document whose `${ENV}` references are already replaced (a document that is not a mapping is
    refused here); no error repeats an environment value.

    Raises ConfigError listing every problem as `field.path: message (got value)`.
    """
    if not isinstance(substituted.document, dict):
        raise ConfigError(path, ["the file must hold a mapping with at least `cameras:`"])
    try:
        config = VigilConfig.model_validate(substituted.document)
    except ValidationError as error:
        raise ConfigError(path, [_format_error(e, substituted) for e in error.errors(include_url=False)]) from None
    problems = [substituted.scrub(problem) for problem in _cross_reference_problems(config)]
    if problems:
        raise ConfigError(path, problems)
    return config


def check_rule_classes(config: VigilConfig, class_names: list[str]) -> list[str]:
    """Problems for rules that name a class the (remapped) model does not have."""
    return [
        f"rules.{i}.classes.{j}: unknown class {name!r}; the model's classes are {', '.join(class_names)}"
        for i, rule in enumerate(config.rules)
        for j, name in enumerate(rule.classes)
        if name not in class_names
    ]
