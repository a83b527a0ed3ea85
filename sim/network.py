"""The social network: who tells whom about their car.

Buyers live in communities of ``community_size`` households; within a community, ties form a small world
(Watts–Strogatz: the graphs networkx's generator gives, drawn by :func:`watts_strogatz` without networkx). A
handful of template communities is generated and assigned to the communities at random, so building a network of
millions costs milliseconds, and the network is stored as compressed sparse rows: ``indptr`` (n + 1) and
``indices`` (the contacts), both int32.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class Network:
    """Who is tied to whom, as compressed sparse rows: buyer ``i``'s contacts are ``indices[indptr[i]:indptr[i+1]]``.

    Ties are symmetric (an undirected graph stored both ways) and never cross communities. Made by
    :func:`build_network`.
    """

    indptr: np.ndarray  # int32, n + 1
    indices: np.ndarray  # int32, contacts
    community_size: int = 0  # buyers per community (0: one community); ties never cross communities

    def community(self, i: int) -> np.ndarray:
        """The slots of the community of buyer ``i`` (everyone ``i`` could ever be tied to, and ``i``)."""
        size = self.community_size or self.n
        start = (i // size) * size
        return np.arange(start, min(start + size, self.n))

    @property
    def n(self) -> int:
        """The number of buyers (slots) the network covers."""
        return self.indptr.size - 1

    def contacts(self, i: int) -> np.ndarray:
        """The contacts of buyer ``i`` (slots, int32): a view into ``indices``, not a copy."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        """Ties per buyer, shape (n,)."""
        return np.diff(self.indptr)

    def gather(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All contacts of ``nodes``: (position in ``nodes`` of the teller, contact), in O(total degree)."""
        starts = self.indptr[nodes].astype(np.int64)
        counts = (self.indptr[nodes + 1] - self.indptr[nodes]).astype(np.int64)
        total = int(counts.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        owner = np.repeat(np.arange(nodes.size), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return owner, self.indices[np.repeat(starts, counts) + offsets]

    def nbytes(self) -> int:
        """Bytes held by the two arrays (the network's share of the model's memory)."""
        return self.indptr.nbytes + self.indices.nbytes

    def to_networkx(self, nodes: np.ndarray | None = None) -> nx.Graph:
        """The subgraph on ``nodes`` (all if None) as a networkx graph, for inspection and drawing."""
        nodes = np.arange(self.n) if nodes is None else np.asarray(nodes)
        keep = set(int(v) for v in nodes)
        g = nx.Graph()
        g.add_nodes_from(keep)
        for v in keep:
            g.add_edges_from((v, int(u)) for u in self.contacts(v) if int(u) in keep)
        return g


def watts_strogatz(size: int, k: int, rewire: float, seed: int) -> list[set[int]]:
    """Each node's neighbours in a Watts-Strogatz small world: the same graph, draw for draw, as networkx's
    ``watts_strogatz_graph(size, k, rewire, seed=seed)`` (a ring lattice of ``k`` neighbours, each edge rewired
    with probability ``rewire`` to a uniformly drawn node, no self-loops or repeated edges; Python's
    ``random.Random(seed)``), without building a networkx graph and its sparse matrix (a fifth of the time).
    Needs ``2 <= k < size``."""
    rng = random.Random(seed)
    nodes = list(range(size))
    adj: list[set[int]] = [set() for _ in nodes]
    for j in range(1, k // 2 + 1):
        for u in nodes:
            v = (u + j) % size
            adj[u].add(v)
            adj[v].add(u)
    draw, below = rng.random, rng._randbelow  # what random.Random.choice(nodes) draws: nodes[_randbelow(size)]
    for j in range(1, k // 2 + 1):
        for u in nodes:
            v = (u + j) % size
            if draw() < rewire:
                w = below(size)
                mine = adj[u]
                while w == u or w in mine:
                    w = below(size)
                    if len(mine) >= size - 1:
                        break  # skip this rewiring
                else:
                    mine.remove(v)
                    adj[v].remove(u)
                    mine.add(w)
                    adj[w].add(u)
    return adj


def _template(size: int, degree: int, rewire: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One community's ties as CSR (indptr int64, indices int32; each row's contacts in ascending order)."""
    k = min(degree, size - 1 - (size - 1) % 2) if size > 2 else max(size - 1, 0)
    if size < 3 or k < 2:
        adj = [set(range(size)) - {u} for u in range(size)]  # complete
    else:
        adj = watts_strogatz(size, k, rewire, seed)
    counts = np.fromiter(map(len, adj), dtype=np.int64, count=size)
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.fromiter((w for row in adj for w in sorted(row)), dtype=np.int32, count=int(indptr[-1]))
    return indptr, indices


def build_network(n: int, community_size: int, degree: int, rewire: float, rng: np.random.Generator,
                  templates: int = 8) -> Network:
    """A network over ``n`` buyers made of small-world communities (see the module docstring).

    Args:
        n: buyers (slots 0..n-1); the last community holds the remainder when ``community_size`` does not
            divide ``n``.
        community_size: buyers per community (ties never cross communities).
        degree: ties per buyer (Watts-Strogatz ``k``; fewer in a community too small for it).
        rewire: Watts-Strogatz rewiring probability, 0-1.
        rng: the stream the template seeds and their assignment to communities are drawn from.
        templates: how many distinct community graphs are generated and reused.

    Returns:
        The :class:`Network`, int32 arrays.

    Raises:
        ValueError: more ties than int32 indices can address.
    """
    size = min(community_size, n)
    n_full, rest = divmod(n, size)
    pool = [_template(size, degree, rewire, int(rng.integers(2**31))) for _ in range(min(templates, max(n_full, 1)))]
    choice = rng.integers(len(pool), size=n_full)
    blocks = [pool[c] for c in choice]
    if rest:
        blocks.append(_template(rest, degree, rewire, int(rng.integers(2**31))))
    nnz = np.array([indices.size for _, indices in blocks], dtype=np.int64)
    if nnz.sum() >= 2**31:
        raise ValueError("network too large for int32 indices")
    indptr = np.zeros(n + 1, dtype=np.int32)
    indices = np.empty(int(nnz.sum()), dtype=np.int32)
    node, edge = 0, 0
    for ptr, idx in blocks:  # written in place, int32: no temporaries the size of the network
        k = ptr.size - 1
        np.add(ptr[1:], edge, out=indptr[node + 1:node + k + 1], casting="unsafe")
        np.add(idx, node, out=indices[edge:edge + idx.size])
        node, edge = node + k, edge + idx.size
    return Network(indptr=indptr, indices=indices, community_size=size)
