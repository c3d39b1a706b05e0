//! How a bulk import is cut into roots. Its records are uploaded before their root is anchored
//! (so an abandoned import leaves only pending uploads, which expire, and never a root whose
//! records the escrow lacks), and the escrow holds at most `pending_quota_bytes` of one uploader's
//! unanchored ciphertext (512 MiB by default). So an import is anchored under one root per
//! [`ROOT_CIPHERTEXT_BYTES`] of ciphertext: one signature for most imports, and for a back
//! catalogue of gigabytes, one per group, each group uploaded and anchored before the next.

use std::ops::Range;

/// Most ciphertext bytes one root of a bulk import covers: half the escrow's default pending
/// quota, leaving room for the uploader's other pending records.
pub const ROOT_CIPHERTEXT_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

/// Cuts records of these ciphertext sizes, in order, into consecutive groups of at most `most`
/// bytes each (a record larger than `most` is a group of its own). Every record is in exactly
/// one group; no group is empty.
pub fn root_groups(sizes: &[f64], most: f64) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0.0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && bytes + size > most {
            groups.push(start..i);
            (start, bytes) = (i, 0.0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        groups.push(start..sizes.len());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_imports_are_one_root() {
        assert_eq!(root_groups(&[10.0, 20.0, 30.0], 100.0), vec![0..3]);
        assert_eq!(root_groups(&[100.0], 100.0), vec![0..1]);
        assert!(root_groups(&[], 100.0).is_empty());
    }

    #[test]
    fn large_imports_are_cut_in_order_and_keep_every_record() {
        let sizes = [60.0, 50.0, 40.0, 150.0, 10.0, 100.0];
        let groups = root_groups(&sizes, 100.0);
        assert_eq!(groups, vec![0..1, 1..3, 3..4, 4..5, 5..6]);
        for g in &groups {
            let bytes: f64 = sizes[g.clone()].iter().sum();
            assert!(bytes <= 100.0 || g.len() == 1, "{g:?} holds {bytes}");
        }
        let covered: Vec<usize> = groups.into_iter().flatten().collect();
        assert_eq!(covered, (0..sizes.len()).collect::<Vec<_>>());
    }
}
