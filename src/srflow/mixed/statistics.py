"""Per-group sufficient statistics of a one-factor linear mixed model, and the small
batched linear algebra the likelihood runs on.

Everything the likelihood needs is reduced once to per-group cross-products
(``X_i'X_i``, ``Z_i'X_i``, ``Z_i'Z_i``, ``Z_i'y_i``, ``X_i'y_i``, ``y_i'y_i``, ``n_i``), so one
evaluation costs O(groups * q^3), independent of the number of rows. Small q x q
factorisations are written as loops over q (not over groups), vectorised across groups.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from srflow.errors import ModelError

try:  # shipped with scikit-learn, a dependency of srflow
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


@dataclasses.dataclass(frozen=True)
class GroupStatistics:
    """Per-group cross-products of (X, Z, y), the only input the likelihood needs.

    The group axis is last so that every per-group quantity is a contiguous vector and
    the small q x q algebra runs as a few vector operations across all groups.

    Attributes
    ----------
    ztz : ndarray
        ``Z_i'Z_i`` as (q, q, G).
    ztxy : ndarray
        ``Z_i'[X_i y_i]`` as (q, p + 1, G): the last column is ``Z_i'y_i``.
    xtx, xty, yty : ndarray
        Sums over groups: ``X'X`` (p, p), ``X'y`` (p,), ``y'y`` (scalar).
    counts : ndarray
        Rows per group (G,).
    labels : ndarray
        Group labels in sorted order, aligned with the group axis above.
    codes : ndarray
        Group index of every row (n,).
    """

    ztz: np.ndarray
    ztxy: np.ndarray
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    counts: np.ndarray
    labels: np.ndarray
    codes: np.ndarray

    @property
    def n_obs(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.counts.shape[0])


def group_statistics(y: np.ndarray, X: np.ndarray, Z: np.ndarray, groups: Any) -> GroupStatistics:
    """Reduce the data to per-group cross-products (one pass over the rows).

    Parameters
    ----------
    y, X, Z : ndarray
        Outcome (n,), fixed-effects design (n, p) and random-effects design (n, q).
    groups : array-like
        Group label of every row (n,); any hashable labels. Groups are ordered by
        sorted label so that results do not depend on row order.

    Returns
    -------
    GroupStatistics
    """
    codes, labels = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    codes = np.asarray(codes, dtype=np.intp)
    if (codes < 0).any():
        raise ModelError("Group labels contain missing values; drop those rows before fitting.")
    n_groups = len(labels)
    p, q = X.shape[1], Z.shape[1]
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    xy = np.column_stack([X, y])

    def per_group(values: np.ndarray) -> np.ndarray:
        # bincount adds in row order: deterministic regardless of thread count.
        return np.bincount(codes, weights=values, minlength=n_groups)

    ztz = np.empty((q, q, n_groups))
    for a in range(q):
        for b in range(a, q):
            ztz[a, b] = ztz[b, a] = per_group(Z[:, a] * Z[:, b])
    ztxy = np.empty((q, p + 1, n_groups))
    for a in range(q):
        for b in range(p + 1):
            ztxy[a, b] = per_group(Z[:, a] * xy[:, b])
    return GroupStatistics(
        ztz=ztz,
        ztxy=ztxy,
        xtx=X.T @ X,
        xty=X.T @ y,
        yty=float(y @ y),
        counts=counts,
        labels=np.asarray(labels),
        codes=codes,
    )


def single_threaded_blas():
    """BLAS on one thread: the products here are tiny (threads only add overhead) and a
    fixed summation order keeps results byte-identical whatever the machine's core count."""
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------------------
# Small batched linear algebra: loops over q, vectorised over groups (group axis last)
# --------------------------------------------------------------------------------------


def batched_cholesky(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (q, q, G) of positive-definite matrices."""
    q = M.shape[0]
    L = np.zeros_like(M)
    for j in range(q):
        d = M[j, j] - (L[j, :j] ** 2).sum(axis=0)
        L[j, j] = np.sqrt(np.maximum(d, 1e-300))
        for i in range(j + 1, q):
            L[i, j] = (M[i, j] - (L[i, :j] * L[j, :j]).sum(axis=0)) / L[j, j]
    return L


def batched_forward_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for lower-triangular L (q, q, G) and B (q, m, G)."""
    q = L.shape[0]
    X = np.empty_like(B)
    for i in range(q):
        acc = B[i].copy()
        for k in range(i):
            acc -= L[i, k] * X[k]
        X[i] = acc / L[i, i]
    return X


def left_multiply(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A' B_g`` for every group: A (q, r), B (q, m, G) -> (r, m, G), as one BLAS call."""
    q, m, n_groups = B.shape
    return (A.T @ B.reshape(q, m * n_groups)).reshape(A.shape[1], m, n_groups)


def sum_crossprod(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``sum_g A_g' B_g`` for A (q, a, G) and B (q, b, G) -> (a, b)."""
    return sum(A[k] @ B[k].T for k in range(A.shape[0]))
