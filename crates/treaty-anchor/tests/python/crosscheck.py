#!/usr/bin/env python3
"""Cross-check treaty-anchor's .ots files against python-opentimestamps, the reference.

Run by hand (cargo tests never need Python):

    python3 -m venv /tmp/otsvenv && /tmp/otsvenv/bin/pip install opentimestamps
    D=$(mktemp -d)
    cargo run -q -p treaty-anchor --example ots_samples -- write "$D"
    /tmp/otsvenv/bin/python crates/treaty-anchor/tests/python/crosscheck.py "$D"
    cargo run -q -p treaty-anchor --example ots_samples -- check "$D"

Checks, for every file Rust wrote: the reference parses it, re-serializes it to the same
bytes, and computes the same message at every attestation. Then it writes py-*.ots files
built with the reference API for the Rust side to parse and re-serialize.
"""

import json
import os
import sys

from opentimestamps.core.notary import (
    BitcoinBlockHeaderAttestation,
    PendingAttestation,
    UnknownAttestation,
)
from opentimestamps.core.op import OpAppend, OpPrepend, OpSHA256, OpHexlify
from opentimestamps.core.serialize import (
    BytesDeserializationContext,
    BytesSerializationContext,
)
from opentimestamps.core.timestamp import DetachedTimestampFile, Timestamp


def parse(data):
    return DetachedTimestampFile.deserialize(BytesDeserializationContext(data))


def serialize(f):
    ctx = BytesSerializationContext()
    f.serialize(ctx)
    return ctx.getbytes()


def main(d):
    expected = json.load(open(os.path.join(d, "expected.json")))
    failures = 0
    for name, atts in sorted(expected.items()):
        data = open(os.path.join(d, name), "rb").read()
        f = parse(data)
        again = serialize(f)
        found = sorted(
            (msg.hex(), att.TAG.hex()) for msg, att in f.timestamp.all_attestations()
        )
        want = sorted((a["message"], a["tag"]) for a in atts)
        ok = again == data and found == want
        failures += not ok
        print(
            "%-20s %4d bytes  reserialized %s  attestations %s"
            % (name, len(data), "same" if again == data else "DIFFERENT",
               "same" if found == want else "DIFFERENT %r != %r" % (found, want))
        )

    # Files written by the reference, for the Rust side.
    digest = bytes(range(32))
    t = Timestamp(digest)
    t.attestations.add(PendingAttestation("https://alice.example"))
    t.attestations.add(BitcoinBlockHeaderAttestation(123456))
    t.attestations.add(UnknownAttestation(b"\x31\x11\x43\x72\x1e\xea\x40\x8c", b"\x01x\x02\x01y"))
    s = t.ops.add(OpAppend(b"\x00" * 16)).ops.add(OpSHA256())
    s.attestations.add(PendingAttestation("https://bob.example"))
    s2 = t.ops.add(OpPrepend(b"pre")).ops.add(OpHexlify())
    s2.attestations.add(BitcoinBlockHeaderAttestation(1))
    t.ops.add(OpAppend(b"\x01")).attestations.add(PendingAttestation("https://carol.example"))
    f = DetachedTimestampFile(OpSHA256(), t)
    open(os.path.join(d, "py-branches.ots"), "wb").write(serialize(f))
    print("wrote py-branches.ots")

    if failures:
        print("%d file(s) differ" % failures)
        sys.exit(1)
    print("all %d Rust-written files agree with python-opentimestamps" % len(expected))


if __name__ == "__main__":
    main(sys.argv[1])
