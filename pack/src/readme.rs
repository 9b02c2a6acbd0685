//! `README.md`: how an auditor verifies a pack offline, what the pack
//! holds, and what verifying it proves and does not prove.

use evledger_tlog::checkpoint::PAYLOAD_SIGNATURE_HEADER;

use crate::manifest::{Manifest, Role, SIGNATURE_CONTEXT};

/// The README of a pack with `manifest` (its `files` are not shown, so it
/// can be written before the manifest lists its digest).
pub(crate) fn readme(manifest: &Manifest) -> String {
    let attestations = manifest.entries_with(Role::Attestation).count();
    let contracts = manifest.entries_with(Role::Contract).count();
    let others = manifest.entries_with(Role::Entry).count();
    format!(
        "# Evidence pack\n\
\n\
Log entries of the transparency log `{origin}`, each with its proof of\n\
inclusion in the log's signed checkpoint at tree size {size} (root hash\n\
`{root}`), made {created}.\n\
\n\
## Verify it\n\
\n\
Offline, with nothing but this zip and the log's verifier key (get the key\n\
from the log's operator, not from this pack: the pack names it, but only a\n\
key you already trust proves anything):\n\
\n\
```\n\
evledger verify pack --key '<log verifier key>' pack.zip\n\
```\n\
\n\
Add `--witness <key> --quorum <n>` to also require cosignatures of the\n\
checkpoint by witnesses you trust. The command exits non-zero, naming the\n\
file and the check, if anything in the pack is wrong; a pack with any one\n\
byte changed does not verify. Keep the zip as you received it: its files\n\
are stored uncompressed in one canonical layout, and a copy re-zipped by\n\
another tool (even with the same files) does not verify.\n\
\n\
Without evledger: each `entries/<index>.tlog-proof` is a C2SP tlog-proof\n\
(<https://c2sp.org/tlog-proof>) that any tlog-proof verifier checks against\n\
the log's key; its `extra` is the entry's leaf bytes, also in\n\
`entries/<index>.leaf`. `manifest.json` lists the SHA-256 of every other\n\
file; `manifest.sig` is the log key's Ed25519 signature (base64) over\n\
the line `{header}`, the line `{context}`, then the bytes of\n\
`manifest.json`.\n\
\n\
## What is in it\n\
\n\
- `manifest.json`: the scope of the pack, the checkpoint's origin, tree size\n\
  and root, every entry (log index, leaf hash, role, kind, workflow,\n\
  subjects, predicate type) and blob, and the SHA-256 of every file;\n\
- `manifest.sig`: the log's signature over `manifest.json`;\n\
- `checkpoint`: the log's signed checkpoint (C2SP tlog-checkpoint in a C2SP\n\
  signed note), the one every proof is against;\n\
- `entries/`: {entries} entries ({attestations} attestations, {contracts}\n\
  contract revisions, {others} other entries), each as `<index>.leaf` (the\n\
  leaf bytes) and `<index>.tlog-proof`;\n\
- `blobs/sha256/`: {blobs} content-addressed blobs ({blob_bytes} bytes) that\n\
  entries name, each under its SHA-256;\n\
- `summary.html`: a printable summary;\n\
- this README.\n\
\n\
## What verifying proves\n\
\n\
- The holder of the log's key signed the checkpoint: the log, at tree size\n\
  {size}, had the root hash above.\n\
- Each leaf is in that tree at its index: no tree that lacks it, or holds\n\
  other bytes there, can be consistent with this checkpoint.\n\
- The log's key signed the manifest: the scope, the roles and the\n\
  descriptions of the entries are what the log stated, and no file was\n\
  changed, added or removed since.\n\
- Each blob is the bytes with its digest.\n\
\n\
## What it does not prove\n\
\n\
- That the pack holds every entry of its scope: completeness is the log's\n\
  signed statement, not something the proofs show. Compare packs, or search\n\
  the log, to check it.\n\
- That the log shows everyone the same tree: the checkpoint is one\n\
  signature by the log. Check it against a monitor's or a witness's view\n\
  (`evledger verify consistency`, or `--witness` above).\n\
- That the entries' own signatures are by the keys you expect, or that what\n\
  they attest is true: the log checked the signatures when it admitted each\n\
  entry; the leaf holds the envelope and its verifiers to check again. The\n\
  kind, workflow, subjects and predicate type in the manifest are the log's\n\
  reading of each leaf; the leaf bytes are the evidence.\n\
- When the pack was made: `createdAt` is the log's clock.\n",
        header = PAYLOAD_SIGNATURE_HEADER,
        context = SIGNATURE_CONTEXT,
        origin = manifest.origin,
        size = manifest.tree_size,
        root = manifest.root_hash,
        created = manifest.created_at,
        entries = manifest.entries.len(),
        blobs = manifest.blobs.len(),
        blob_bytes = manifest.blob_bytes(),
    )
}
