#!/usr/bin/env python3
"""IMAP4rev1 client (stdlib imaplib): login, create a folder, APPEND three
messages (one with 8-bit frame-like bytes in a literal), search, fetch,
store flags, expunge, logout. Usage: imap_client.py HOST PORT"""
import imaplib, random, sys

host, port = sys.argv[1], int(sys.argv[2])
rnd = random.Random(17)
m = imaplib.IMAP4(host, port)
m.login("adv", "adv-secret")
m.create("Adv")
m.select("Adv")
bodies = [b"Subject: short\r\n\r\nhi\r\n",
          b"Subject: bytes\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
          + bytes(b for b in rnd.randbytes(600) if b not in (0, 10, 13)) + b"\r\n\x81\x05hello\r\n",
          b"Subject: long\r\n\r\n" + b"a line of a longer message body\r\n" * 150]
for b in bodies:
    typ, _ = m.append("Adv", None, None, b)
    assert typ == "OK", typ
m.select("Adv")
typ, data = m.search(None, "ALL")
ids = data[0].split()
assert len(ids) == 3, data
for i in ids:
    m.fetch(i, "(FLAGS RFC822.SIZE BODY.PEEK[])")
m.store(ids[0], "+FLAGS", "\\Deleted")
m.expunge()
m.noop()
m.close()
m.logout()
