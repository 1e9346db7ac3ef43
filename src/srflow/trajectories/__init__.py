"""Trajectory models: LCGA / growth mixture models by EM, longitudinal k-means,
model selection over the number of classes, Bonanno labels and stressor anchoring.

Every function takes a long table (one row per participant and wave) with the
participant, time and outcome columns named by arguments; rows with a missing
outcome are dropped and unbalanced times are allowed.
"""

from srflow.trajectories.anchoring import AnchorResult, anchor_on_event
from srflow.trajectories.bootstrap import bootstrap_lrt_pvalue, bootstrap_lrt_replicate
from srflow.trajectories.classify import TrajectoryClassifier
from srflow.trajectories.gmm import GMM
from srflow.trajectories.kmeans import LongitudinalKMeans
from srflow.trajectories.labels import LabelThresholds, label_classes
from srflow.trajectories.mixture import LCGA
from srflow.trajectories.panel import PanelData, prepare_panel
from srflow.trajectories.selection import fit_trajectory_grid, make_model, model_seed, selection_row
from srflow.trajectories.tables import classes_table, curves_table

__all__ = [
    "AnchorResult",
    "GMM",
    "LCGA",
    "LabelThresholds",
    "LongitudinalKMeans",
    "PanelData",
    "TrajectoryClassifier",
    "anchor_on_event",
    "bootstrap_lrt_pvalue",
    "bootstrap_lrt_replicate",
    "classes_table",
    "curves_table",
    "fit_trajectory_grid",
    "label_classes",
    "make_model",
    "model_seed",
    "prepare_panel",
    "selection_row",
]
