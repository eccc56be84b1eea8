//! An RFC 6962 Merkle tree over leaf hashes, held in memory: tree heads,
//! inclusion paths (RFC 6962 §2.1.1 PATH) and consistency proofs (§2.1.2
//! SUBPROOF). Recomputes subtrees on demand; a test log holds few entries.

use sha2::{Digest as _, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf (sigstore-merkle's, the one
/// the verifier uses).
pub fn leaf_hash(data: &[u8]) -> Hash {
    sigstore_merkle::hash_leaf(data).into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sigstore_merkle::hash_children(&(*left).into(), &(*right).into()).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes; the empty tree's head is SHA-256("").
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `m`, leaf to root. `None` when
/// `m` is outside the tree.
pub fn inclusion_path(m: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if m >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path_into(m, leaves, &mut out);
    Some(out)
}

fn path_into(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path_into(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path_into(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// PROOF(m, D[n]): the consistency proof from the tree of the first `m`
/// leaves to the tree of all of them. `None` unless `0 < m <= n`.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if m == 0 || m > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Some(out)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the RFC 6962 test vectors used by certificate-transparency
    /// and trillian, with the tree heads for sizes 1..=8.
    fn vectors() -> (Vec<Hash>, [&'static str; 8]) {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        (inputs.iter().map(|d| leaf_hash(d)).collect(), roots)
    }

    #[test]
    fn empty_tree_head_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tree_heads_match_rfc6962_vectors() {
        let (leaves, roots) = vectors();
        for (n, want) in roots.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves[..=n])), *want, "size {}", n + 1);
        }
    }

    #[test]
    fn known_inclusion_path() {
        // Trillian's vector: leaf 0 of the 8-leaf tree.
        let (leaves, _) = vectors();
        let path: Vec<String> = inclusion_path(0, &leaves)
            .unwrap()
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(
            path,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
    }

    #[test]
    fn out_of_range_requests_are_refused() {
        let (leaves, _) = vectors();
        assert!(inclusion_path(8, &leaves).is_none());
        assert!(consistency_proof(0, &leaves).is_none());
        assert!(consistency_proof(9, &leaves).is_none());
        assert_eq!(consistency_proof(8, &leaves), Some(vec![]));
    }
}
