"""RFC 9162 (RFC 6962) Merkle tree over the store's transaction records.

Exactly section 2.1 of RFC 9162: leaf hash ``SHA-256(0x00 || d)``, node hash
``SHA-256(0x01 || left || right)``, the hash of the empty list is
``SHA-256("")``, and a list of n > 1 leaves is split at the largest power of
two smaller than n.  ``lineage verify`` uses the root to detect any change to
the history, inclusion proofs to show one record is in it, and consistency
proofs to show a later history extends an earlier one without rewriting it.

The tree is built bottom-up, one level at a time, promoting the odd last node
of a level unchanged; that is the same tree as the RFC's recursive split (the
right spine is the only place a subtree is not complete), so every node the
RFC's PATH and SUBPROOF name is a cell of one of the levels.  Building costs
one hash per node (about 2n); each proof is then O(log n) lookups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lineage.errors import InputError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class MerkleTree:
    """All levels of the tree over ``leaves``, for a root and many proofs.

    ``levels[h][i]`` is the hash of the subtree over leaves
    ``[i * 2**h, min((i + 1) * 2**h, n))``.
    """

    def __init__(self, leaves: Sequence[bytes]):
        level = [leaf_hash(bytes(d)) for d in leaves]
        self.size = len(level)
        self.levels: list[list[bytes]] = [level]
        sha256 = hashlib.sha256
        while len(level) > 1:
            pairs = [
                sha256(NODE_PREFIX + level[i] + level[i + 1]).digest()
                for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                pairs.append(level[-1])  # odd last node is promoted unchanged
            level = pairs
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        """MTH of all leaves (SHA-256 of the empty string for no leaves)."""
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def _node(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that is a node of this tree."""
        height = (end - start - 1).bit_length()
        return self.levels[height][start >> height]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[n]): sibling hashes from the leaf up to the root."""
        if not 0 <= index < self.size:
            raise InputError(
                f"leaf index {index} is outside a tree of {self.size} leaves", field="index"
            )
        proof = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index >>= 1
        return proof

    def consistency_proof(self, first_size: int) -> list[bytes]:
        """RFC 9162 PROOF(m, D[n]); empty when m is 0 or n (nothing to prove)."""
        if not 0 <= first_size <= self.size:
            raise InputError(
                f"first tree size {first_size} is outside 0..{self.size}", field="first_size"
            )
        if first_size in (0, self.size):
            return []
        return self._subproof(first_size, 0, self.size, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], b), unrolled into a loop over the descent."""
        tail: list[bytes] = []
        while True:
            n = end - start
            if m == n:
                head = [] if whole else [self._node(start, end)]
                return head + tail[::-1]
            k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
            if m <= k:
                tail.append(self._node(start + k, end))
                end = start + k
            else:
                tail.append(self._node(start, start + k))
                start, m, whole = start + k, m - k, False


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of ``leaves``."""
    return MerkleTree(leaves).root


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree over ``leaves``."""
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], first_size: int) -> list[bytes]:
    """Proof that the tree over ``leaves[:first_size]`` is a prefix of the one over ``leaves``."""
    return MerkleTree(leaves).consistency_proof(first_size)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show leaf data ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the first tree is a prefix of the second?

    The cases the RFC leaves out are decided as transparency-dev/merkle does,
    except that an empty first tree must also carry the empty root: equal
    sizes need an empty proof and equal roots; first size 0 needs an empty
    proof; a first tree larger than the second never verifies.
    """
    if not 0 <= first_size <= second_size:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    if first_size == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:  # exact power of two
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
