"""Training and evaluation: CenterNet targets and losses, per-design training, mAP@0.5, demo weights.

How each design is trained (one *plan* per row; see :mod:`pipeline.train.plan`):

- ``monolith``: one network, all 20 classes, every frame.
- ``specialists-condition``: each condition specialist sees only its condition's frames (each step's batch
  is balanced across conditions, so it gets a third of it). Frames without a condition tag (a user's YOLO
  set without ``conditions.json``) cannot be split: every specialist then trains on every frame, and the
  trainer logs a warning.
- ``specialists-groups``: each group specialist sees every frame, with only its group's labels (global
  class ids mapped to the head's local channels by ``pipeline.models.classes.class_ids``).
- ``shared-condition`` and ``shared-groups``: the Triton repository holds ONE ``trunk`` used by both
  shared ensembles, so both designs share one plan, ``shared``: the trunk is trained jointly with all six
  heads (condition heads on their condition's frames, group heads on their group's labels). Training
  either shared design therefore trains (and overwrites) both designs' weights.

Weights are saved as one state dict per registry name, ``<out>/<name>.pt``, which
``pipeline.models.export.export_repository(config, repo, weights=out)`` loads.
"""

from pipeline.train.demo import ensure_demo_weights
from pipeline.train.evaluate import DesignAccuracy, evaluate_design
from pipeline.train.plan import DESIGN_CHOICES, PLANS, TrainPlan, plans_for
from pipeline.train.samples import Sample
from pipeline.train.trainer import TrainResult, TrainSettings, train_design, train_plan

__all__ = [
    "DESIGN_CHOICES",
    "PLANS",
    "DesignAccuracy",
    "Sample",
    "TrainPlan",
    "TrainResult",
    "TrainSettings",
    "ensure_demo_weights",
    "evaluate_design",
    "plans_for",
    "train_design",
    "train_plan",
]
