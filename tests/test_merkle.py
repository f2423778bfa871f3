"""RFC 9162 Merkle tree: published RFC 6962 vectors, a literal RFC oracle, hypothesis."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.errors import InputError
from lineage.store import merkle

# The RFC 6962 reference vectors, copied from transparency-dev/merkle:
# testonly/constants.go (LeafInputs, RootHashes, EmptyRootHash) and
# proof/verify_test.go (inclusionProofs, consistencyProofs).  The same
# vectors are in certificate-transparency-go and google/trillian.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = [  # index = tree size
    EMPTY,
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index (0-based; the Go file is 1-based), tree size, proof)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
CONSISTENCY = [  # (size1, size2, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# --- a literal transcription of the RFC 9162 2.1 definitions, as an oracle ---


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def _flip(b: bytes, at: int = 0) -> bytes:
    return b[:at] + bytes([b[at] ^ 0x10]) + b[at + 1 :]


# --- published vectors ---


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_rfc6962_vectors(size):
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size]


def test_empty_root_is_sha256_of_nothing():
    assert merkle.root([]).hex() == EMPTY
    assert merkle.EMPTY_ROOT.hex() == EMPTY


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_proofs_match_vectors(index, size, proof):
    got = merkle.inclusion_proof(LEAVES[:size], index)
    assert [p.hex() for p in got] == proof
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(LEAVES[index], index, size, got, root)


@pytest.mark.parametrize("size1,size2,proof", CONSISTENCY)
def test_consistency_proofs_match_vectors(size1, size2, proof):
    got = merkle.consistency_proof(LEAVES[:size2], size1)
    assert [p.hex() for p in got] == proof
    r1, r2 = bytes.fromhex(ROOTS[size1]), bytes.fromhex(ROOTS[size2])
    assert merkle.verify_consistency(size1, size2, r1, r2, got)


@pytest.mark.parametrize("index,size,proof", [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_probes_fail(index, size, proof):
    """The corruption probes of transparency-dev's verify_test.go."""
    proof = [bytes.fromhex(p) for p in proof]
    root, leaf = bytes.fromhex(ROOTS[size]), LEAVES[index]
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, bytes.fromhex(EMPTY)),
        (leaf, index, size, proof, some),
        (leaf, index, size, proof + [b""], root),
        (leaf, index, size, proof + [root], root),
        (leaf, index, size, [b""] + proof, root),
        (leaf, index, size, [root] + proof, root),
        (leaf, index, size, proof[:-1], root),
        *[
            (leaf, index, size, proof[:i] + [_flip(proof[i])] + proof[i + 1 :], root)
            for i in range(len(proof))
        ],
    ]
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], some] + proof[1:], root))
    assert [merkle.verify_inclusion(*p) for p in probes] == [False] * len(probes)


@pytest.mark.parametrize("size1,size2,proof", [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_probes_fail(size1, size2, proof):
    proof = [bytes.fromhex(p) for p in proof]
    r1, r2 = bytes.fromhex(ROOTS[size1]), bytes.fromhex(ROOTS[size2])
    probes = [
        (size1 - 1, size2, r1, r2, proof),
        (size1 + 1, size2, r1, r2, proof),
        (size1 ^ 2, size2, r1, r2, proof),
        (size1, size2 * 2, r1, r2, proof),
        (size1, size2 // 2, r1, r2, proof),
        (size1, size2, b"WrongRoot", r2, proof),
        (size1, size2, r1, b"WrongRoot", proof),
        (size1, size2, r2, r1, proof),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, proof + [b""]),
        (size1, size2, r1, r2, proof + [r1]),
        (size1, size2, r1, r2, proof + [r2]),
        (size1, size2, r1, r2, [b""] + proof),
        (size1, size2, r1, r2, [r1] + proof),
        (size1, size2, r1, r2, [r2] + proof),
        (size1, size2, r1, r2, [proof[0]] + proof),
        (size1, size2, r1, r2, proof[:-1]),
        *[
            (size1, size2, r1, r2, proof[:i] + [_flip(proof[i])] + proof[i + 1 :])
            for i in range(len(proof))
        ],
    ]
    assert [merkle.verify_consistency(*p) for p in probes] == [False] * len(probes)


def test_trivial_consistency_cases():
    r1 = bytes.fromhex(ROOTS[1])
    some = bytes.fromhex(ROOTS[3])
    assert merkle.consistency_proof(LEAVES[:3], 0) == []
    assert merkle.consistency_proof(LEAVES[:3], 3) == []
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, some, [])
    assert merkle.verify_consistency(1, 1, r1, r1, [])
    assert not merkle.verify_consistency(1, 1, r1, some, [])  # roots differ
    assert not merkle.verify_consistency(1, 1, r1, r1, [r1])  # proof not empty
    assert not merkle.verify_consistency(0, 3, r1, some, [])  # not the empty root
    assert not merkle.verify_consistency(2, 1, r1, some, [r1])  # time travel
    assert not merkle.verify_consistency(1, 2, r1, some, [])  # empty proof


def test_inclusion_rejects_out_of_range_sizes():
    leaf_root = merkle.leaf_hash(b"data")
    assert merkle.verify_inclusion(b"data", 0, 1, [], leaf_root)
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)]:
        assert not merkle.verify_inclusion(b"data", index, size, [], leaf_root)


def test_bad_indices_raise_input_error():
    with pytest.raises(InputError, match="outside a tree of 3"):
        merkle.inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(InputError, match="outside 0..3"):
        merkle.consistency_proof(LEAVES[:3], 4)


# --- random trees: equal to the literal RFC definitions, and proofs verify ---

leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_inclusion_random_trees(leaves, data):
    tree = merkle.MerkleTree(leaves)
    assert tree.root == ref_mth(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.inclusion_proof(index)
    assert proof == ref_path(index, leaves)
    assert merkle.verify_inclusion(leaves[index], index, len(leaves), proof, tree.root)
    # a changed leaf, proof element, root or position fails
    other = data.draw(st.binary(max_size=12).filter(lambda b: b != leaves[index]))
    assert not merkle.verify_inclusion(other, index, len(leaves), proof, tree.root)
    assert not merkle.verify_inclusion(leaves[index], index, len(leaves), proof, _flip(tree.root))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        at = data.draw(st.integers(0, 31))
        bad = proof[:i] + [_flip(proof[i], at)] + proof[i + 1 :]
        assert not merkle.verify_inclusion(leaves[index], index, len(leaves), bad, tree.root)
        assert not merkle.verify_inclusion(leaves[index], index, len(leaves), proof[:-1], tree.root)
    if leaves[index]:
        flipped = _flip(leaves[index], data.draw(st.integers(0, len(leaves[index]) - 1)))
        assert not merkle.verify_inclusion(flipped, index, len(leaves), proof, tree.root)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_inclusion_proof_verifies(leaves, data):
    tree = merkle.MerkleTree(leaves)
    assert all(
        merkle.verify_inclusion(leaf, i, len(leaves), tree.inclusion_proof(i), tree.root)
        for i, leaf in enumerate(leaves)
    )


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_consistency_random_trees(leaves, data):
    n = len(leaves)
    tree = merkle.MerkleTree(leaves)
    for m in range(1, n):
        proof = tree.consistency_proof(m)
        assert proof == ref_subproof(m, leaves, True)
        assert merkle.verify_consistency(m, n, ref_mth(leaves[:m]), tree.root, proof)
    if n >= 2:
        m = data.draw(st.integers(1, n - 1))
        proof = tree.consistency_proof(m)
        first = merkle.root(leaves[:m])
        i = data.draw(st.integers(0, len(proof) - 1))
        at = data.draw(st.integers(0, 31))
        bad = proof[:i] + [_flip(proof[i], at)] + proof[i + 1 :]
        assert not merkle.verify_consistency(m, n, first, tree.root, bad)
        assert not merkle.verify_consistency(m, n, _flip(first, at), tree.root, proof)
        assert not merkle.verify_consistency(m, n, first, _flip(tree.root, at), proof)
        # a rewritten history (one earlier leaf changed) is not consistent
        j = data.draw(st.integers(0, m - 1))
        rewritten = leaves[:j] + [leaves[j] + b"!"] + leaves[j + 1 :]
        new = merkle.MerkleTree(rewritten)
        assert not merkle.verify_consistency(m, n, first, new.root, new.consistency_proof(m))


def test_hundred_thousand_leaves_is_fast():
    leaves = [i.to_bytes(8, "big") for i in range(100_000)]
    start = time.perf_counter()
    tree = merkle.MerkleTree(leaves)
    proof = tree.inclusion_proof(76_543)
    cproof = tree.consistency_proof(61_234)
    elapsed = time.perf_counter() - start
    assert merkle.verify_inclusion(leaves[76_543], 76_543, 100_000, proof, tree.root)
    assert merkle.verify_consistency(
        61_234, 100_000, merkle.root(leaves[:61_234]), tree.root, cproof
    )
    assert elapsed < 5.0
