"""Periodic retraining: when `finetune.schedule` says so, `vigil run` starts feedback + training + gated promotion."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from finetune.dataset import DatasetError
from finetune.jobs import JobBusy
from vigil.config import RetrainingScheduleConfig
from vigil.finetune_service import SiteFinetuning

log = logging.getLogger(__name__)

SCHEDULE_REQUESTER = "schedule"
_SLACK = timedelta(hours=1)
"""A run may start this much early, so a weekly run at 03:00 does not slip a week for a run that began at 03:00:40."""


def time_of_day_passed(previous_check: datetime, now: datetime, at: time) -> bool:
    """True when the local time of day `at` fell in (previous_check, now]; a `vigil run` that was down at `at`
    waits for the next day's."""
    moment = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return previous_check < moment <= now


def interval_elapsed(now: datetime, last_started: datetime | None, every_days: float) -> bool:
    """True when no scheduled run started within the last `every_days` (less a little slack)."""
    return last_started is None or now - last_started >= timedelta(days=every_days) - _SLACK


class RetrainingSchedule:
    """Checked on every tick of `vigil run`; starts a job through `finetuning` when one is due."""

    def __init__(self, schedule: RetrainingScheduleConfig, finetuning: SiteFinetuning, now: datetime) -> None:
        self.schedule = schedule
        self.finetuning = finetuning
        hours, minutes = (int(part) for part in schedule.at.split(":"))
        self._at = time(hours, minutes)
        self._previous_check = now

    def check(self, now: datetime) -> int | None:
        """Start a job if due; its id, else None."""
        previous, self._previous_check = self._previous_check, now
        if not time_of_day_passed(previous, now, self._at):
            return None
        last = self.finetuning.jobs.last_requested_by(SCHEDULE_REQUESTER)
        if not interval_elapsed(now, last and last.created_at, self.schedule.every_days):
            return None
        try:
            job_id = self.finetuning.start(
                self.schedule.dataset, feedback=self.schedule.feedback, requested_by=SCHEDULE_REQUESTER, promote=True
            )
        except (JobBusy, DatasetError) as error:
            log.warning("scheduled retraining skipped: %s", error)
            return None
        log.info("scheduled retraining: job %d on dataset %s", job_id, self.schedule.dataset)
        return job_id
