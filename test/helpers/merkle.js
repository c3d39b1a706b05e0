// An OpenZeppelin-compatible Merkle tree (sorted-pair keccak256, the layout of
// @openzeppelin/merkle-tree's StandardMerkleTree) over access-log leaves and records under a root,
// built independently of the contract so the tests check its logLeaf, verifyLogEntry, rootedLeaf
// and isRootedRecord against a second implementation.
const { keccak256, AbiCoder, concat, getBytes, hexlify } = require("ethers");

const coder = AbiCoder.defaultAbiCoder();

/** leaf = keccak256(bytes.concat(keccak256(abi.encode(uint64 seq, bytes32 entryHash)))) */
function logLeaf(seq, entryHash) {
  return keccak256(keccak256(coder.encode(["uint64", "bytes32"], [BigInt(seq), entryHash])));
}

/** leaf = keccak256(bytes.concat(keccak256(abi.encode(uint32 index, bytes32 recordId, bytes32 ciphertextHash, uint8 category)))) */
function rootedLeaf({ index, recordId, ciphertextHash, category }) {
  return keccak256(keccak256(coder.encode(["uint32", "bytes32", "bytes32", "uint8"], [index, recordId, ciphertextHash, category])));
}

function compareBytes(a, b) {
  const x = getBytes(a);
  const y = getBytes(b);
  for (let i = 0; i < 32; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

function hashPair(a, b) {
  return compareBytes(a, b) <= 0 ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

/**
 * Build the tree over `leaves` (hex strings, in order). Returns {root, proof(i)}: the complete
 * binary tree in an array, leaves at the end in reverse order, node i = hashPair(2i+1, 2i+2).
 */
function buildTree(leaves) {
  if (leaves.length === 0) throw new Error("empty tree");
  const n = leaves.length;
  const tree = new Array(2 * n - 1);
  leaves.forEach((leaf, i) => {
    tree[tree.length - 1 - i] = hexlify(leaf);
  });
  for (let i = tree.length - 1 - n; i >= 0; i--) tree[i] = hashPair(tree[2 * i + 1], tree[2 * i + 2]);
  const proof = (leafIndex) => {
    let i = tree.length - 1 - leafIndex;
    const out = [];
    while (i > 0) {
      const sibling = i % 2 === 0 ? i - 1 : i + 1;
      out.push(tree[sibling]);
      i = Math.floor((i - 1) / 2);
    }
    return out;
  };
  return { root: tree[0], proof, tree };
}

/** Verify a proof the way OpenZeppelin's MerkleProof.processProof does. */
function verify(proof, root, leaf) {
  let h = leaf;
  for (const p of proof) h = hashPair(h, p);
  return h.toLowerCase() === root.toLowerCase();
}

module.exports = { logLeaf, rootedLeaf, buildTree, hashPair, verify };
