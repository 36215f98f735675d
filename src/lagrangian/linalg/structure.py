"""Read a square sparse matrix's structure off its dependency graph.

Row ``i`` of ``A x = b`` *depends on* unknown ``j`` when ``A[i, j] != 0`` and
``i != j``. The strongly connected components (SCCs) of that graph are the blocks
that must be solved together; the condensation (one node per SCC) is a DAG, so a
topological order of the components permutes ``A`` symmetrically into block lower
triangular form::

    P A P^T = [ A_11              ]      every diagonal block A_kk is one SCC;
              [ A_21  A_22        ]      a 1x1 block means an acyclic unknown,
              [  ...   ...  ...   ]      a larger block is a cycle.
              [ A_K1  ...   A_KK  ]

When the rows come in an arbitrary order (the equations of a triangular system
shuffled), a zero can sit on the diagonal; a maximum bipartite matching of rows to
columns first puts a nonzero on every diagonal entry, and the components are found
on the matched matrix (Duff 1981; this is the block triangular form of Dulmage and
Mendelsohn). So in general ``A[rows][:, columns]`` is block lower triangular.

If every component is a single node the permuted matrix is triangular and one
triangular substitution solves the system: this is the backprop case of a
computation graph. Knowing this before choosing a solver matters: a general
sparse LU with a fill-reducing column ordering can fill a triangular matrix with
millions of nonzeros, while substitution costs one pass over its nonzeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

__all__ = ["Structure", "Segment", "analyze", "is_symmetric"]


@dataclass(frozen=True)
class Segment:
    """A contiguous range ``[start, stop)`` of the permuted unknowns.

    ``cyclic`` is False for a run of consecutive single-node components (its
    diagonal block is lower triangular) and True for one strongly connected
    component of two or more nodes (its diagonal block needs a general solve).
    """

    start: int
    stop: int
    cyclic: bool


@dataclass(frozen=True)
class Structure:
    """What :func:`analyze` found.

    Attributes
    ----------
    kind : {"triangular", "block_triangular", "symmetric", "general"}
        The solver family the structure calls for.
    rows, columns : numpy.ndarray
        Permutations such that ``A[rows][:, columns]`` is block lower triangular
        (equal unless the rows had to be matched to columns first).
    segments : tuple of Segment
        The diagonal blocks of ``A[rows][:, columns]`` in substitution order.
    n_components : int
        Number of strongly connected components.
    largest_component : int
        Size of the largest one (1 means acyclic).
    """

    kind: str
    rows: np.ndarray
    columns: np.ndarray
    segments: tuple
    n_components: int
    largest_component: int


def is_symmetric(A, rtol: float = 1e-14) -> bool:
    """True when ``A`` equals its transpose to ``rtol`` relative to ``max |A_ij|``."""
    A = sp.csr_array(A)
    if A.shape[0] != A.shape[1]:
        return False
    difference = (A - A.T).tocoo()
    if difference.nnz == 0:
        return True
    scale = np.abs(A.data).max() if A.nnz else 0.0
    return bool(np.abs(difference.data).max() <= rtol * scale)


def _topological_component_order(labels, n_components, A_coo):
    """Rank the components so that every dependency points to a lower rank.

    scipy's strong-components routine (Pearce's algorithm) numbers components in
    the order it completes them, which is a reverse topological order of the graph
    it was given: on the graph of ``A`` (edge ``i -> j`` when row ``i`` depends on
    ``j``) the dependencies come first, which is the substitution order. That is an
    implementation detail, so both directions are checked here in O(nnz) and,
    should neither hold, a Kahn sort on the condensation (iterative, linear time,
    but a Python loop) takes over.
    """
    off = A_coo.row != A_coo.col
    row_label, col_label = labels[A_coo.row[off]], labels[A_coo.col[off]]
    if np.all(row_label >= col_label):
        return labels
    if np.all(row_label <= col_label):
        return (n_components - 1) - labels
    # Kahn's algorithm on the condensation: edge (component of j) -> (component of i).
    src, dst = labels[A_coo.col[off]], labels[A_coo.row[off]]
    keep = src != dst
    edges = sp.coo_array(
        (np.ones(keep.sum()), (src[keep], dst[keep])), shape=(n_components, n_components)
    ).tocsr()
    edges.sum_duplicates()
    indegree = np.diff(edges.tocsc().indptr).copy()
    ready = list(np.flatnonzero(indegree == 0))
    component_rank = np.empty(n_components, dtype=np.int64)
    next_rank = 0
    while ready:
        c = ready.pop()
        component_rank[c] = next_rank
        next_rank += 1
        children = edges.indices[edges.indptr[c] : edges.indptr[c + 1]]
        indegree[children] -= 1
        ready.extend(children[indegree[children] == 0])
    return component_rank[labels]


def analyze(A) -> Structure:
    """Find the block triangular structure of a square sparse matrix.

    Parameters
    ----------
    A : sparse array or matrix, shape (n, n)

    Returns
    -------
    Structure
        The permutation to block lower triangular form, its diagonal blocks,
        and the solver family: ``"triangular"`` when every strongly connected
        component is a single node; otherwise ``"symmetric"`` when ``A`` equals
        its transpose; otherwise ``"block_triangular"`` when there are several
        components; otherwise ``"general"``.

    Notes
    -----
    Cost is O(n + nnz) when the diagonal is structurally nonzero (otherwise the
    matching adds its own, usually near-linear, cost): one strongly-connected-components pass
    (:func:`scipy.sparse.csgraph.connected_components` with ``connection="strong"``)
    and one sort. Strong connectivity does not change when every edge is reversed,
    so the graph of ``A`` and of ``A^T`` give the same components.
    """
    A = sp.csr_array(A, copy=True)
    A.eliminate_zeros()
    n = A.shape[0]
    coo = A.tocoo()
    identity = np.arange(n)
    # Already triangular in the given order (a computation graph's tape always is):
    # no components to find.
    if np.all(coo.row >= coo.col):
        return Structure("triangular", identity, identity, (Segment(0, n, False),), n, 1 if n else 0)
    if np.all(coo.row <= coo.col):
        reverse = identity[::-1].copy()
        return Structure("triangular", reverse, reverse, (Segment(0, n, False),), n, 1 if n else 0)
    match = identity
    if np.count_nonzero(coo.row == coo.col) < n:
        # A structural zero on the diagonal: match each row to a column of its own.
        match = maximum_bipartite_matching(A, perm_type="column")
        if np.any(match < 0):
            # Structurally singular: no permutation gives a nonzero diagonal. The LU
            # path reports it (with the failing pivot) when it factors.
            return Structure("general", identity, identity, (Segment(0, n, True),), 1, n)
        A = sp.csr_array(A[:, match])
        coo = A.tocoo()
    n_components, labels = connected_components(A, directed=True, connection="strong")
    sizes = np.bincount(labels, minlength=n_components)
    rank = _topological_component_order(labels, n_components, coo)
    order = np.argsort(rank, kind="stable")
    sorted_sizes = sizes[labels[order]]

    segments = []
    start = 0
    while start < n:
        if sorted_sizes[start] > 1:
            stop = start + int(sorted_sizes[start])
            segments.append(Segment(start, stop, True))
        else:
            # A run of singleton components: find where it ends without a Python loop
            # over its members.
            later_cycles = np.flatnonzero(sorted_sizes[start:] > 1)
            stop = start + int(later_cycles[0]) if later_cycles.size else n
            segments.append(Segment(start, stop, False))
        start = stop

    largest = int(sizes.max()) if n else 0
    if largest <= 1:
        kind = "triangular"
    elif match is identity and is_symmetric(A):
        kind = "symmetric"
    elif n_components > 1:
        kind = "block_triangular"
    else:
        kind = "general"
    return Structure(kind, order, match[order], tuple(segments), int(n_components), largest)
