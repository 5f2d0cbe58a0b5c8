#!/usr/bin/env python3
"""Checks truth.py against the shared sample truth files: for every classic
pcap sample with a <name>.truth.json in DIR, the WebSocket-layer fields that
truth.py computes must equal the sample truth (truth.py does not judge RFC
violations; `violations` is left out). The wss, mid-stream and truncated samples are
out of its scope: the application captures have none of those. Prints one line per capture and exits
non-zero on any difference.

Usage: check_samples.py DIR   (e.g. ../shared/captures)
"""
import glob, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truth  # noqa: E402

bad_total = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.pcap"))):
    ref_path = path[:-5] + ".truth.json"
    if not os.path.exists(ref_path):
        continue
    ref = json.load(open(ref_path))
    if ref.get("keylog"):
        continue  # wss: truth.py does not decrypt
    if os.path.basename(path) in ("midstream.pcap", "truncated_snaplen.pcap"):
        print(f"{os.path.basename(path)}: skipped (truth.py needs the handshake and whole packets)")
        continue
    ours = truth.strip_private(truth.build(path)[0])
    bad = []
    if len(ours["connections"]) != len(ref["connections"]):
        bad.append(("connections", len(ours["connections"]), len(ref["connections"])))
    for a, b in zip(ours["connections"], ref["connections"]):
        for k, v in b.items():
            if k == "violations":
                continue
            if k in ("messages", "control", "http_exchanges"):
                if len(a.get(k, [])) != len(v):
                    bad.append((k, len(a.get(k, [])), len(v)))
                for x, y in zip(a.get(k, []), v):
                    bad += [(f"{k}.{kk}", x.get(kk), yy) for kk, yy in y.items()
                            if not kk.startswith("generator_") and kk != "captured_prefix_hex" and x.get(kk) != yy]
            elif k == "handshake":
                bad += [(f"handshake.{kk}", a[k].get(kk), yy) for kk, yy in v.items() if a[k].get(kk) != yy]
            elif a.get(k) != v:
                bad.append((k, a.get(k), v))
    bad_total += len(bad)
    print(f"{os.path.basename(path)}: {'ok' if not bad else bad[:3]}")
sys.exit(1 if bad_total else 0)
