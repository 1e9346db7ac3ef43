"""Latent class growth analysis and growth mixture models (compatibility module).

The estimators live in :mod:`srflow.trajectories.mixture` (LCGA), :mod:`.gmm` (GMM) and the
data preparation in :mod:`.panel`; this module re-exports their public names.
"""

from srflow.trajectories.gmm import GMM
from srflow.trajectories.mixture import LCGA
from srflow.trajectories.panel import MIN_PARTICIPANTS_PER_CLASS, PanelData, prepare_panel

__all__ = ["GMM", "LCGA", "MIN_PARTICIPANTS_PER_CLASS", "PanelData", "prepare_panel"]
