"""Operator feedback into a dataset: confirmed alerts become labelled frames, false positives hard negatives."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2

from alerts import Alert, AlertStatus, AlertStore
from alerts.writer import raw_frame_path
from finetune.dataset import ImportSummary, LabelBox, Sample, SiteDataset
from finetune.pseudo_labels import PseudoLabeler, without_overlaps
from finetune.training_set import BACKGROUND_TAG

log = logging.getLogger(__name__)

CONFIRMED = (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)
"""Statuses that mean an operator looked at the alert and did not call it false."""
_BATCH = 8


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    confirmed: int
    false_positives: int
    already_imported: int
    without_frame: int
    """Reviewed alerts whose undrawn frame is gone (older than Vigil 0.x snapshots, or purged)."""
    imported: ImportSummary | None


def _reviewed(store: AlertStore) -> list[Alert]:
    statuses = (*CONFIRMED, AlertStatus.FALSE_POSITIVE)
    return [a for status in statuses for a in store.list_alerts(status=status, limit=None)]


def _sample(alert: Alert, image, pseudo: list[LabelBox]) -> Sample:
    box = LabelBox(alert.label, alert.box)
    confirmed = alert.status in CONFIRMED
    # The alert's object is either the label (confirmed) or explicitly nothing (false positive); the model's
    # boxes for everything else in the frame stay, so other people are not taught as background.
    boxes = ([box] if confirmed else []) + without_overlaps(pseudo, [box])
    tags: dict[str, object] = {"alert_id": alert.id, "alert_status": str(alert.status), "rule": alert.rule}
    if not confirmed:
        tags[BACKGROUND_TAG] = True
    return Sample(
        image=image, boxes=boxes, clip=f"alerts:{alert.camera}", frame=alert.id or 0,
        time_s=alert.started_at.timestamp(), source=f"feedback:alert {alert.id}", tags=tags,
    )


def import_feedback(store: AlertStore, dataset: SiteDataset, labeler: PseudoLabeler) -> FeedbackSummary:
    """Add every reviewed alert not yet in `dataset`; all-or-nothing like any import."""
    taken = dataset.imported_tags("alert_id")
    reviewed = _reviewed(store)
    fresh = [a for a in reviewed if a.id not in taken]
    usable = [a for a in fresh if a.snapshot_path and raw_frame_path(a.snapshot_path).is_file()]
    summary = FeedbackSummary(
        confirmed=sum(a.status in CONFIRMED for a in usable),
        false_positives=sum(a.status == AlertStatus.FALSE_POSITIVE for a in usable),
        already_imported=len(reviewed) - len(fresh),
        without_frame=len(fresh) - len(usable),
        imported=None,
    )
    if not usable:
        return summary
    new_labels = sorted({a.label for a in usable if a.status in CONFIRMED} - set(dataset.classes))
    classes = labeler.detector.class_names
    with dataset.importing("feedback", add_classes=new_labels) as batch:
        for start in range(0, len(usable), _BATCH):
            chunk = usable[start : start + _BATCH]
            images = [cv2.imread(str(raw_frame_path(a.snapshot_path))) for a in chunk]
            chunk, images = [a for a, i in zip(chunk, images) if i is not None], [i for i in images if i is not None]
            for alert, image, pseudo in zip(chunk, images, labeler.label(images, classes)):
                batch.add(_sample(alert, image, pseudo))
    log.info("feedback into %s: %d confirmed, %d false positive(s)", dataset.name, summary.confirmed,
             summary.false_positives)
    return replace(summary, imported=batch.summary)
