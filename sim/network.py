"""The social network: who tells whom about their car.

Buyers live in communities of ``community_size`` households; within a community, ties form a small world
(Watts–Strogatz: the graphs networkx's generator gives, drawn by :func:`watts_strogatz` without networkx, and
compiled with its own copy of Python's Mersenne Twister, so the same seed gives the same ties). A
handful of template communities is generated and assigned to the communities at random, so building a network of
millions costs milliseconds, and the network is stored as compressed sparse rows: ``indptr`` (n + 1, int32) and
``local`` (each contact's place in its community, uint16: :class:`Network`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import networkx as nx
import numpy as np

from sim.jit import jit


@dataclass(frozen=True)
class Network:
    """Who is tied to whom, as compressed sparse rows: buyer ``i``'s contacts are those listed in
    ``local[indptr[i]:indptr[i+1]]``, each as its place in ``i``'s community (the community of ``i`` starts at slot
    ``(i // community_size) * community_size``; :meth:`base`). Stored so, a contact takes 2 bytes where a slot
    number would take 4 (communities up to 65,536 buyers: uint16; larger ones int32): a tenth of the model's state.
    ``indices`` gives the contacts as slots.

    Ties are symmetric (an undirected graph stored both ways) and never cross communities. Made by
    :func:`build_network` (or :meth:`from_slots`).
    """

    indptr: np.ndarray  # int32, n + 1
    local: np.ndarray  # uint16 (int32 for communities over 65,536), each contact's place in its community
    community_size: int = 0  # buyers per community (0: one community); ties never cross communities

    @classmethod
    def from_slots(cls, indptr: np.ndarray, indices: np.ndarray, community_size: int = 0) -> Network:
        """The network whose contacts, as slots, are ``indices`` (int, CSR with ``indptr``): each must lie in its
        buyer's community of ``community_size`` (0: one community).

        Raises:
            ValueError: a contact outside its buyer's community.
        """
        indptr = np.asarray(indptr, dtype=np.int32)
        n = indptr.size - 1
        size = community_size or max(n, 1)
        owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        local = np.asarray(indices, dtype=np.int64) - (owner // size) * size
        if local.size and (local.min() < 0 or local.max() >= size):
            raise ValueError("a contact outside its buyer's community")
        return cls(indptr=indptr, local=local.astype(local_dtype(size)), community_size=community_size)

    @property
    def size(self) -> int:
        """Buyers per community as the contacts are stored (``community_size``, or everyone for 0), at least 1."""
        return self.community_size or max(self.n, 1)

    def base(self, i: int) -> int:
        """The first slot of buyer ``i``'s community: a contact's slot is ``base(i) + local[...]``."""
        return (i // self.size) * self.size

    @property
    def indices(self) -> np.ndarray:
        """Every contact as a slot, int32, in the order of ``local`` (made on each call: for inspection and tests;
        the model reads ``local``)."""
        owner = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        return ((owner // self.size) * self.size + self.local).astype(np.int32)

    def community(self, i: int) -> np.ndarray:
        """The slots of the community of buyer ``i`` (everyone ``i`` could ever be tied to, and ``i``)."""
        start = self.base(i)
        return np.arange(start, min(start + self.size, self.n))

    @property
    def n(self) -> int:
        """The number of buyers (slots) the network covers."""
        return self.indptr.size - 1

    def contacts(self, i: int) -> np.ndarray:
        """The contacts of buyer ``i`` (slots, int32)."""
        return (self.local[self.indptr[i] : self.indptr[i + 1]] + self.base(int(i))).astype(np.int32)

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
        base = (np.asarray(nodes, dtype=np.int64) // self.size) * self.size
        return owner, base[owner] + self.local[np.repeat(starts, counts) + offsets]

    def nbytes(self) -> int:
        """Bytes held by the two arrays (the network's share of the model's memory)."""
        return self.indptr.nbytes + self.local.nbytes

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
    ``random.Random(seed)``), without building a networkx graph. Needs ``2 <= k < size`` and ``0 <= seed < 2**32``.
    (:func:`_template` uses the compiled twin, :func:`_watts_strogatz_csr`, and the tests check one against
    the other.)"""
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


# ---- the same graph, compiled: Python's Mersenne Twister (MT19937) drawn as random.Random draws it ------------
def _python_random_state(seed: int) -> np.ndarray:
    """The 624 words of ``random.Random(seed)``'s Mersenne Twister state (0 <= seed < 2**32): CPython seeds an int
    with ``init_by_array([seed])``, as numpy's legacy ``RandomState`` seeds a one-element array."""
    return np.random.RandomState([seed]).get_state()[1].astype(np.uint32)


@jit
def _mt_next(mt, pos):
    """The next 32-bit output of the MT19937 state ``mt`` (624 uint32, regenerated in place when ``pos[0]``
    reaches 624; Matsumoto & Nishimura 1998, as in CPython's ``_randommodule.c``)."""
    if pos[0] >= 624:
        for i in range(624):
            y = (mt[i] & np.uint32(0x80000000)) | (mt[(i + 1) % 624] & np.uint32(0x7FFFFFFF))
            v = mt[(i + 397) % 624] ^ (y >> np.uint32(1))
            if y & np.uint32(1):
                v ^= np.uint32(0x9908B0DF)
            mt[i] = v
        pos[0] = 0
    y = mt[pos[0]]
    pos[0] += 1
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    y ^= y >> np.uint32(18)
    return y


@jit
def _py_random(mt, pos) -> float:
    """``random.Random.random()``: 53 bits from two outputs."""
    a = np.uint64(_mt_next(mt, pos) >> np.uint32(5))
    b = np.uint64(_mt_next(mt, pos) >> np.uint32(6))
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


@jit
def _py_randbelow(mt, pos, n: int) -> int:
    """``random.Random._randbelow(n)`` (0 < n < 2**32): ``getrandbits(n.bit_length())`` until below ``n``."""
    k = 0
    while (n >> k) > 0:
        k += 1
    r = np.int64(_mt_next(mt, pos) >> np.uint32(32 - k))
    while r >= n:
        r = np.int64(_mt_next(mt, pos) >> np.uint32(32 - k))
    return r


@jit
def _has(adj, deg, u: int, w: int) -> bool:
    for t in range(deg[u]):
        if adj[u, t] == w:
            return True
    return False


@jit
def _drop(adj, deg, u: int, w: int) -> None:
    for t in range(deg[u]):
        if adj[u, t] == w:
            deg[u] -= 1
            adj[u, t] = adj[u, deg[u]]
            return


@jit
def _watts_strogatz_csr(size: int, k: int, rewire: float, mt, pos):
    """:func:`watts_strogatz` compiled, from the Mersenne Twister state ``mt``/``pos``
    (:func:`_python_random_state`): the same draws in the same order, each node's neighbours in an unordered row
    of ``adj`` (grown when full), returned as CSR with every row sorted (indptr int64, indices int32)."""
    cap = k + 8
    adj = np.empty((size, cap), dtype=np.int64)
    deg = np.zeros(size, dtype=np.int64)
    half = k // 2
    for u in range(size):  # the ring lattice: u's neighbours u +- 1 .. u +- k/2 (as sets, order is irrelevant)
        for j in range(1, half + 1):
            adj[u, deg[u]] = (u + j) % size
            adj[u, deg[u] + 1] = (u - j) % size
            deg[u] += 2
    for j in range(1, half + 1):
        for u in range(size):
            v = (u + j) % size
            if _py_random(mt, pos) < rewire:
                w = _py_randbelow(mt, pos, size)
                skipped = False
                while w == u or _has(adj, deg, u, w):
                    w = _py_randbelow(mt, pos, size)
                    if deg[u] >= size - 1:
                        skipped = True
                        break
                if not skipped:
                    _drop(adj, deg, u, v)
                    _drop(adj, deg, v, u)
                    if deg[u] == cap or deg[w] == cap:  # a row is full: double every row's room
                        grown = np.empty((size, 2 * cap), dtype=np.int64)
                        grown[:, :cap] = adj
                        adj, cap = grown, 2 * cap
                    adj[u, deg[u]] = w
                    deg[u] += 1
                    adj[w, deg[w]] = u
                    deg[w] += 1
    indptr = np.zeros(size + 1, dtype=np.int64)
    for u in range(size):
        indptr[u + 1] = indptr[u] + deg[u]
    indices = np.empty(indptr[size], dtype=np.int32)
    for u in range(size):
        row = np.sort(adj[u, :deg[u]])
        indices[indptr[u]:indptr[u + 1]] = row
    return indptr, indices


def _template(size: int, degree: int, rewire: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One community's ties as CSR (indptr int64, indices int32; each row's contacts in ascending order): the
    graph of :func:`watts_strogatz` (compiled: :func:`_watts_strogatz_csr`), or a complete graph when the
    community is too small for a small world."""
    k = min(degree, size - 1 - (size - 1) % 2) if size > 2 else max(size - 1, 0)
    if size < 3 or k < 2:
        adj = [set(range(size)) - {u} for u in range(size)]  # complete
        counts = np.fromiter(map(len, adj), dtype=np.int64, count=size)
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.fromiter((w for row in adj for w in sorted(row)), dtype=np.int32, count=int(indptr[-1]))
        return indptr, indices
    return _watts_strogatz_csr(size, k, float(rewire), _python_random_state(seed), np.array([624], dtype=np.int64))


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
    local = np.empty(int(nnz.sum()), dtype=local_dtype(size))
    node, edge = 0, 0
    for ptr, idx in blocks:  # written in place: no temporaries the size of the network
        k = ptr.size - 1
        np.add(ptr[1:], edge, out=indptr[node + 1:node + k + 1], casting="unsafe")
        local[edge:edge + idx.size] = idx  # a template's contacts are places in its community already
        node, edge = node + k, edge + idx.size
    return Network(indptr=indptr, local=local, community_size=size)


def local_dtype(community_size: int) -> type:
    """The type of a contact's place in its community: uint16 up to 65,536 buyers, int32 beyond."""
    return np.uint16 if community_size <= 2**16 else np.int32
