//! The Merkle trees the contract checks with OpenZeppelin's `MerkleProof`: sorted-pair keccak256
//! (a pair is hashed smaller first, so a proof needs no left/right flags), an odd node at the end
//! of a level carried up unchanged. The escrow builds them over its access log (`logLeaf`), and a
//! bulk import over its records (`rootedLeaf`, [`crate::record_root`]); each leaf is hashed twice
//! by its own function, so no inner node (a hash of 64 bytes) can pass for a leaf.

use alloy_primitives::{keccak256, B256};

/// `keccak256` of the pair, smaller first (`MerkleProof`'s `_hashPair`).
pub fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A tree over leaves, every level kept (a proof is one sibling per level).
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// Builds the tree; `None` when `leaves` is empty.
    pub fn new(leaves: Vec<B256>) -> Option<MerkleTree> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks(2)
                .map(|p| match p {
                    [a, b] => hash_pair(*a, *b),
                    [a] => *a,
                    _ => unreachable!("chunks(2) gives one or two"),
                })
                .collect();
            levels.push(above);
        }
        Some(MerkleTree { levels })
    }

    /// How many leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Never: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The proof of leaf `index` (empty past the last leaf, which then proves nothing).
    pub fn proof(&self, mut index: usize) -> Vec<B256> {
        let mut proof = Vec::new();
        if index >= self.len() {
            return proof;
        }
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            if let Some(sibling) = level.get(index ^ 1) {
                proof.push(*sibling);
            }
            index /= 2;
        }
        proof
    }
}

/// What `MerkleProof.verify` computes: whether `proof` leads from `leaf` to `root`.
pub fn verify_proof(proof: &[B256], root: B256, leaf: B256) -> bool {
    proof.iter().fold(leaf, |acc, p| hash_pair(acc, *p)) == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n)
            .map(|i| keccak256((i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_size_proves_and_nothing_else_does() {
        assert!(MerkleTree::new(Vec::new()).is_none());
        for n in 1..=33 {
            let tree = MerkleTree::new(leaves(n)).expect("leaves");
            assert_eq!(tree.len(), n);
            for (i, leaf) in leaves(n).into_iter().enumerate() {
                let proof = tree.proof(i);
                assert!(proof.len() <= 6, "{n} leaves: a proof of {}", proof.len());
                assert!(
                    verify_proof(&proof, tree.root(), leaf),
                    "{n} leaves, leaf {i}"
                );
                let other = keccak256(leaf);
                assert!(
                    !verify_proof(&proof, tree.root(), other),
                    "{n} leaves, a stranger as {i}"
                );
                if n > 1 {
                    let wrong = tree.proof((i + 1) % n);
                    assert!(
                        !verify_proof(&wrong, tree.root(), leaf) || wrong == proof,
                        "{n} leaves, leaf {i} with another's proof"
                    );
                }
            }
            assert!(tree.proof(n).is_empty());
        }
    }

    #[test]
    fn one_leaf_is_its_own_root_and_a_pair_is_order_free() {
        let l = leaves(2);
        assert_eq!(MerkleTree::new(vec![l[0]]).expect("one").root(), l[0]);
        assert_eq!(hash_pair(l[0], l[1]), hash_pair(l[1], l[0]));
    }
}
