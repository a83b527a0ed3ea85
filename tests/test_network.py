"""sim/network.py: small-world communities stored as CSR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network import Network, build_network

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=40)


def edges(net: Network) -> np.ndarray:
    """All directed (i, j) pairs of the CSR, as an (m, 2) array."""
    rows = np.repeat(np.arange(net.n), net.degree())
    return np.column_stack([rows, net.indices.astype(np.int64)])


def check_structure(net: Network, n: int, community_size: int) -> None:
    assert net.n == n
    assert net.indptr.dtype == np.int32 and net.indices.dtype == np.int32
    assert net.indptr[0] == 0 and np.all(np.diff(net.indptr) >= 0) and net.indptr[-1] == net.indices.size
    e = edges(net)
    if e.size == 0:
        return
    assert e.min() >= 0 and e.max() < n
    # no self-loops
    assert np.all(e[:, 0] != e[:, 1])
    # no repeated contact within a row
    codes = e[:, 0] * n + e[:, 1]
    assert np.unique(codes).size == codes.size
    # symmetric: j in contacts(i) iff i in contacts(j)
    np.testing.assert_array_equal(np.sort(codes), np.sort(e[:, 1] * n + e[:, 0]))
    # ties within communities: blocks of community_size (the last one may be shorter)
    size = min(community_size, n)
    assert np.all(e[:, 0] // size == e[:, 1] // size)


@pytest.fixture(scope="module")
def big():
    return build_network(10_000, 1000, 8, 0.1, np.random.default_rng(2024))


def test_structure(big):
    check_structure(big, 10_000, 1000)


def test_mean_degree_matches(big):
    assert big.degree().mean() == pytest.approx(8, abs=0.05)
    assert big.degree().min() >= 1


def test_small_world_has_some_rewired_shortcuts(big):
    """With rewire > 0 not every tie is a ring-lattice tie (|i - j| <= k/2 within the community)."""
    e = edges(big)
    local = e[:, 0] % 1000, e[:, 1] % 1000
    ring = np.minimum(np.abs(local[0] - local[1]), 1000 - np.abs(local[0] - local[1])) <= 4
    assert 0.02 < 1 - ring.mean() < 0.5


def test_no_rewiring_gives_a_ring_lattice():
    net = build_network(300, 100, 6, 0.0, np.random.default_rng(0))
    check_structure(net, 300, 100)
    assert np.all(net.degree() == 6)
    e = edges(net)
    a, b = e[:, 0] % 100, e[:, 1] % 100
    assert np.all(np.minimum(np.abs(a - b), 100 - np.abs(a - b)) <= 3)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 50, 999])
def test_n_smaller_than_community(n):
    net = build_network(n, 1000, 8, 0.1, np.random.default_rng(n))
    check_structure(net, n, 1000)
    if n >= 9:
        assert net.degree().mean() == pytest.approx(8, abs=0.05)
    else:  # too few to have 8 contacts: everybody knows everybody else (or as many as the size allows)
        assert net.degree().max() <= n - 1


def test_remainder_block():
    net = build_network(2345, 500, 8, 0.1, np.random.default_rng(5))
    check_structure(net, 2345, 500)
    tail = net.degree()[2000:]
    assert tail.size == 345 and tail.mean() == pytest.approx(8, abs=0.05)
    # the remainder block is a community of its own: ties stay inside 2000..2344
    e = edges(net)
    in_tail = e[:, 0] >= 2000
    assert np.all(e[in_tail, 1] >= 2000)


@pytest.mark.parametrize("rest", [1, 2])
def test_tiny_remainder(rest):
    net = build_network(200 + rest, 100, 8, 0.1, np.random.default_rng(rest))
    check_structure(net, 200 + rest, 100)
    assert np.all(net.degree()[200:] == rest - 1)


@HYP
@given(n=st.integers(1, 400), community=st.integers(2, 120), degree=st.sampled_from([2, 4, 6, 8, 10]),
       rewire=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_structure_property(n, community, degree, rewire, seed):
    net = build_network(n, community, degree, rewire, np.random.default_rng(seed))
    check_structure(net, n, community)
    size = min(community, n)
    if size > degree:
        # full communities have exactly mean degree `degree` (Watts-Strogatz keeps the number of ties)
        full = (n // size) * size
        assert net.degree()[:full].mean() == pytest.approx(degree)


def test_deterministic_for_a_seed():
    a = build_network(3000, 700, 8, 0.2, np.random.default_rng(77))
    b = build_network(3000, 700, 8, 0.2, np.random.default_rng(77))
    c = build_network(3000, 700, 8, 0.2, np.random.default_rng(78))
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not (np.array_equal(a.indptr, c.indptr) and np.array_equal(a.indices, c.indices))


# ---- gather ----------------------------------------------------------------------------------------------------------
@HYP
@given(nodes=st.lists(st.integers(0, 299), max_size=40), seed=st.integers(0, 1000))
def test_gather_returns_owner_contact_pairs(nodes, seed):
    net = build_network(300, 60, 6, 0.3, np.random.default_rng(seed))
    nodes = np.array(nodes, dtype=np.int64)
    owner, contact = net.gather(nodes)
    expected = [(pos, int(c)) for pos, v in enumerate(nodes) for c in net.contacts(int(v))]
    assert list(zip(owner.tolist(), contact.tolist())) == expected


def test_gather_hand_made():
    net = Network.from_slots(np.array([0, 2, 2, 3], np.int32), np.array([1, 2, 0], np.int32))
    owner, contact = net.gather(np.array([2, 1, 0, 2]))
    assert owner.tolist() == [0, 2, 2, 3]
    assert contact.tolist() == [0, 1, 2, 0]
    owner, contact = net.gather(np.array([1], dtype=np.int64))
    assert owner.size == 0 and contact.size == 0


def test_to_networkx_roundtrip():
    net = build_network(120, 40, 4, 0.1, np.random.default_rng(3))
    g = net.to_networkx()
    assert g.number_of_nodes() == 120
    assert 2 * g.number_of_edges() == net.indices.size
    sub = net.to_networkx(np.arange(40))
    assert set(sub.nodes) == set(range(40))
    assert all(u < 40 and v < 40 for u, v in sub.edges)


def test_community_holds_every_tie_of_its_members():
    from sim.network import build_network

    net = build_network(2500, 1000, 6, 0.2, np.random.default_rng(3))
    for i in (0, 999, 1000, 2499):
        members = set(net.community(i).tolist())
        assert i in members and len(members) == (1000 if i < 2000 else 500)
        assert set(net.contacts(i).tolist()) <= members


# ---- the same networks as networkx's generator -----------------------------------------------------------------------
def networkx_network(n: int, community_size: int, degree: int, rewire: float, rng: np.random.Generator) -> Network:
    """The network as it was built with networkx (``watts_strogatz_graph`` and ``to_scipy_sparse_array`` per
    template, communities concatenated): what :func:`build_network` must give, tie for tie, seed for seed."""
    import networkx as nx

    def template(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(degree, size - 1 - (size - 1) % 2) if size > 2 else max(size - 1, 0)
        graph = nx.complete_graph(size) if size < 3 or k < 2 else nx.watts_strogatz_graph(size, k, rewire, seed=seed)
        csr = nx.to_scipy_sparse_array(graph, nodelist=range(size), format="csr")
        return csr.indptr.astype(np.int64), csr.indices.astype(np.int32)

    size = min(community_size, n)
    n_full, rest = divmod(n, size)
    pool = [template(size, int(rng.integers(2**31))) for _ in range(min(8, max(n_full, 1)))]
    blocks = [pool[c] for c in rng.integers(len(pool), size=n_full)]
    if rest:
        blocks.append(template(rest, int(rng.integers(2**31))))
    ptr, idx, node, edge = [np.zeros(1, dtype=np.int64)], [], 0, 0
    for indptr, indices in blocks:
        ptr.append(indptr[1:] + edge)
        idx.append(indices + node)
        node, edge = node + indptr.size - 1, edge + indices.size
    return Network.from_slots(np.concatenate(ptr).astype(np.int32), np.concatenate(idx).astype(np.int32), size)


@HYP
@given(n=st.integers(1, 3000), community=st.integers(1, 400), degree=st.integers(0, 24),
       rewire=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_same_network_as_networkx(n, community, degree, rewire, seed):
    """The generator written without networkx (a fifth of the set-up time of a 10,000-buyer run) draws the same
    ties: a seed gives the run it gave before."""
    ours = build_network(n, community, degree, rewire, np.random.default_rng(seed))
    theirs = networkx_network(n, community, degree, rewire, np.random.default_rng(seed))
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    assert ours.community_size == theirs.community_size


@HYP
@given(size=st.integers(3, 60), degree=st.integers(2, 59), rewire=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_compiled_small_world_draws_as_python_random(size, degree, rewire, seed):
    """The compiled generator (its own Mersenne Twister, seeded as ``random.Random(seed)``) gives the graph of the
    readable one, :func:`sim.network.watts_strogatz`, also where nearly every node is a neighbour and a rewiring is
    skipped."""
    from sim.network import _template, watts_strogatz

    k = min(degree, size - 1 - (size - 1) % 2)
    if k < 2:
        return
    indptr, indices = _template(size, degree, rewire, seed)
    adj = watts_strogatz(size, k, rewire, seed)
    assert np.diff(indptr).tolist() == [len(row) for row in adj]
    assert indices.tolist() == [w for row in adj for w in sorted(row)]
