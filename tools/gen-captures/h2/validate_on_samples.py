#!/usr/bin/env python3
"""Self-test of the truth builder: runs h2parse/truth on the project's
HTTP/1.1 sample captures (/work/shared/captures or the directory given) and
compares every message and control frame, packet numbers included, with
their golden truth files. Known limits, reported as such: TLS 1.2 is not
decrypted, a capture without the handshake (midstream) and cut payloads
(truncated_snaplen) are outside what this builder handles.
Usage: validate_on_samples.py [SAMPLES_DIR]   (needs editcap for pcapng)"""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truth as T  # noqa: E402

SAMPLES = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/captures"
KEYS = ["dir", "opcode", "frames", "compressed", "payload_len", "wire_payload_len", "sha256", "text",
        "first_packet", "last_packet"]
CKEYS = ["dir", "opcode", "payload_len", "close_code", "close_reason", "packet"]
exact, differ = [], []
with tempfile.TemporaryDirectory() as tmp:
    for tpath in sorted(glob.glob(os.path.join(SAMPLES, "*.truth.json"))):
        tf = json.load(open(tpath))
        name = tpath.split("/")[-1][:-len(".truth.json")]
        pcap = os.path.join(tmp, name + ".pcap")
        subprocess.run(["editcap", "-F", "pcap", os.path.join(SAMPLES, tf["capture"]), pcap],
                       check=True, capture_output=True)
        key = os.path.join(SAMPLES, tf["keylog"]) if tf.get("keylog") else None
        truth, _ = T.build(pcap, key)
        ours = {c["client"]: c for c in truth["connections"]}
        bad = 0
        for c in tf["connections"]:
            o = ours.get(c["client"], {})
            a = [{k: m.get(k) for k in KEYS} for m in c.get("messages", [])]
            b = [{k: m.get(k) for k in KEYS} for m in o.get("messages", [])]
            ca = [{k: m.get(k) for k in CKEYS} for m in c.get("control", [])]
            if a != b or ca != o.get("control", []):
                bad += 1
        (differ if bad else exact).append("%s (%d of %d connections differ)" % (name, bad, len(tf["connections"]))
                                          if bad else name)
print("exact (every message and control frame, packet numbers included): %d: %s" % (len(exact), ", ".join(exact)))
print("different: %d: %s" % (len(differ), ", ".join(differ)))
