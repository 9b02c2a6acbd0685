"""The append-then-prove workload of `append_prove.rs`, run against pymerkle
(SQLite backend) as a baseline peer. Prints one JSON line.

usage: python3 pymerkle_peer.py N_LEAVES N_PROOFS CHUNK DBFILE
"""
import json
import random
import sys
import time

from pymerkle import SqliteTree, verify_inclusion


def main():
    n, proofs, chunk, dbfile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tree = SqliteTree(dbfile)
    leaves = [f"bench-leaf-{i}".encode() for i in range(n)]
    started = time.perf_counter()
    for at in range(0, n, chunk):
        # one transaction (one commit) per chunk, like one sequencer batch
        tree.append_entries(leaves[at:at + chunk])
    append_s = time.perf_counter() - started
    size = tree.get_size()
    root = tree.get_state()
    rng = random.Random(7)
    started = time.perf_counter()
    for _ in range(proofs):
        index = rng.randrange(1, size + 1)  # pymerkle indexes from 1
        proof = tree.prove_inclusion(index, size)
        verify_inclusion(tree.get_leaf(index), root, proof)
    prove_s = time.perf_counter() - started
    print(json.dumps({"append_per_s": n / append_s, "prove_per_s": proofs / prove_s,
                      "append_s": append_s, "prove_s": prove_s}))


if __name__ == "__main__":
    main()
