//! RFC 6962 / RFC 9162 Merkle tree hashing and proofs.
//!
//! Leaf hash `SHA-256(0x00 ‖ entry)`, node hash `SHA-256(0x01 ‖ left ‖ right)`,
//! the tree of `n` leaves split at the largest power of two below `n`. Proofs
//! are built from *ranges* of leaves: each proof element is the hash of a
//! contiguous range, which is itself made of perfect (power-of-two, aligned)
//! subtrees. The store fetches exactly those perfect subtrees, so proof
//! building needs no recursion over storage.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (`n ≥ 2`): RFC 6962's split.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The tree head of `leaves`, computed directly (the reference).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// A perfect subtree: `2^level` leaves starting at `index · 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Perfect {
    pub level: u32,
    pub index: u64,
}

/// The perfect subtrees whose hashes make the hash of leaves
/// `[start, start + len)`, as RFC 6962 splits that range (the left part of
/// every split is perfect). `start` must be aligned as the RFC's recursion
/// leaves it, which holds for every range this module produces.
pub fn perfect_parts(start: u64, len: u64, out: &mut Vec<Perfect>) {
    if len == 0 {
        return;
    }
    if len.is_power_of_two() && start.is_multiple_of(len) {
        out.push(Perfect {
            level: len.trailing_zeros(),
            index: start / len,
        });
        return;
    }
    let k = split(len);
    perfect_parts(start, k, out);
    perfect_parts(start + k, len - k, out);
}

/// The hash of leaves `[start, start + len)` from its perfect parts.
pub fn range_hash(start: u64, len: u64, get: &impl Fn(Perfect) -> Hash) -> Hash {
    if len == 0 {
        return empty_root();
    }
    if len.is_power_of_two() && start.is_multiple_of(len) {
        return get(Perfect {
            level: len.trailing_zeros(),
            index: start / len,
        });
    }
    let k = split(len);
    node_hash(
        &range_hash(start, k, get),
        &range_hash(start + k, len - k, get),
    )
}

/// The ranges whose hashes form the inclusion proof of leaf `index` in the
/// tree of `size` leaves (RFC 6962 PATH), in proof order (bottom up).
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    fn path(m: u64, start: u64, n: u64, out: &mut Vec<(u64, u64)>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, k, out);
            out.push((start + k, n - k));
        } else {
            path(m - k, start + k, n - k, out);
            out.push((start, k));
        }
    }
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

/// The ranges whose hashes form the consistency proof from the tree of
/// `old` leaves to the tree of `new` leaves (RFC 6962 PROOF), in order.
pub fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    fn subproof(m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        if m == n {
            if !whole {
                out.push((start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, whole, out);
            out.push((start + k, n - k));
        } else {
            subproof(m - k, start + k, n - k, false, out);
            out.push((start, k));
        }
    }
    if 0 < old && old < new {
        subproof(old, 0, new, true, &mut out);
    }
    out
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has {got} hashes, {expected} expected")]
    WrongLength { got: usize, expected: usize },
    #[error("the proof leads to a different root")]
    RootMismatch,
    #[error("sizes must satisfy 0 < old <= new")]
    BadSizes,
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks a consistency proof between two tree heads (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::BadSizes);
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let expected = consistency_ranges(old, new).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    // If old is a power of two, the old root is the first element.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr == *old_root && sr == *new_root && snode == 0 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Proof hashes for `ranges` over an in-memory list of leaf hashes.
pub fn proof_from_leaves(leaves: &[Hash], ranges: &[(u64, u64)]) -> Vec<Hash> {
    ranges
        .iter()
        .map(|&(s, l)| root_of(&leaves[s as usize..(s + l) as usize]))
        .collect()
}

pub fn hex(h: &Hash) -> String {
    plaza_kernel::hex::encode(h)
}

pub fn from_hex(s: &str) -> Option<Hash> {
    plaza_kernel::hex::decode32(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 reference leaves (as published with Certificate
    /// Transparency's test data).
    fn reference_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            leaf_hash(&bytes)
        })
        .collect()
    }

    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        from_hex(s).unwrap()
    }

    #[test]
    fn reference_roots_for_every_size() {
        let leaves = reference_leaves();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(hex(&root_of(&leaves[..n])), *want, "size {n}");
            let from_parts = range_hash(0, n as u64, &|p: Perfect| {
                let len = 1usize << p.level;
                root_of(&leaves[p.index as usize * len..(p.index as usize + 1) * len])
            });
            assert_eq!(hex(&from_parts), *want, "size {n} from perfect parts");
        }
    }

    #[test]
    fn reference_inclusion_proofs() {
        let leaves = reference_leaves();
        let cases = [
            (
                0u64,
                8u64,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, size, want) in cases {
            let proof = proof_from_leaves(&leaves, &inclusion_ranges(index, size));
            assert_eq!(
                proof.iter().map(hex).collect::<Vec<_>>(),
                want,
                "PATH({index}, {size})"
            );
            verify_inclusion(
                index,
                size,
                &leaves[index as usize],
                &proof,
                &h(ROOTS[size as usize]),
            )
            .unwrap();
        }
    }

    #[test]
    fn reference_consistency_proofs() {
        let leaves = reference_leaves();
        let cases = [
            (
                2u64,
                8u64,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let proof = proof_from_leaves(&leaves, &consistency_ranges(old, new));
            assert_eq!(
                proof.iter().map(hex).collect::<Vec<_>>(),
                want,
                "PROOF({old}, {new})"
            );
            verify_consistency(
                old,
                new,
                &h(ROOTS[old as usize]),
                &h(ROOTS[new as usize]),
                &proof,
            )
            .unwrap();
        }
    }

    fn synthetic(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_is_caught() {
        let leaves = synthetic(70);
        for n in 1..=leaves.len() as u64 {
            let root = root_of(&leaves[..n as usize]);
            for i in 0..n {
                let proof = proof_from_leaves(&leaves, &inclusion_ranges(i, n));
                verify_inclusion(i, n, &leaves[i as usize], &proof, &root).unwrap();
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(
                        verify_inclusion(other, n, &leaves[i as usize], &proof, &root).is_err(),
                        "wrong index"
                    );
                    assert!(
                        verify_inclusion(i, n, &leaves[other as usize], &proof, &root).is_err(),
                        "wrong leaf"
                    );
                }
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(
                        verify_inclusion(i, n, &leaves[i as usize], &bad, &root).is_err(),
                        "tampered proof"
                    );
                    assert!(
                        verify_inclusion(i, n, &leaves[i as usize], &proof[1..], &root).is_err(),
                        "short proof"
                    );
                }
            }
            assert!(verify_inclusion(n, n, &leaves[0], &[], &root).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_is_caught() {
        let leaves = synthetic(40);
        for n in 1..=leaves.len() as u64 {
            let new_root = root_of(&leaves[..n as usize]);
            for m in 1..=n {
                let old_root = root_of(&leaves[..m as usize]);
                let proof = proof_from_leaves(&leaves, &consistency_ranges(m, n));
                verify_consistency(m, n, &old_root, &new_root, &proof).unwrap();
                if m < n {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(&bad[0], &bad[0]);
                    assert!(
                        verify_consistency(m, n, &old_root, &new_root, &bad).is_err(),
                        "tampered {m}->{n}"
                    );
                    assert!(
                        verify_consistency(m, n, &new_root, &new_root, &proof).is_err(),
                        "wrong old root {m}->{n}"
                    );
                }
            }
        }
        assert_eq!(
            verify_consistency(0, 3, &empty_root(), &empty_root(), &[]),
            Err(ProofError::BadSizes)
        );
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (n, k) in [
            (2u64, 1u64),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1000, 512),
            (1 << 40, 1 << 39),
        ] {
            assert_eq!(split(n), k, "split({n})");
        }
    }
}
