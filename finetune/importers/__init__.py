"""Importers of site-labelled data: CVAT video tracks, YOLO and COCO exports, and clip time spans."""

from finetune.importers.coco import import_coco
from finetune.importers.cvat_video import import_cvat_video
from finetune.importers.spans import import_spans
from finetune.importers.yolo import import_yolo

__all__ = ["import_coco", "import_cvat_video", "import_spans", "import_yolo"]
