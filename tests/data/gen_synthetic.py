#!/usr/bin/env python3
"""Generates tests/data/synthetic.json: TLS connections sealed with an independent implementation
(Python hmac + `cryptography` AEADs) for the suites the real captures do not cover:
TLS 1.3 ChaCha20-Poly1305 (with KeyUpdate and padding), TLS 1.2 ChaCha20-Poly1305 (RFC 7905) and
TLS 1.2 AES-256-GCM-SHA384 (RFC 5288/5289, SHA-384 PRF). Deterministic: re-running gives the same file."""
import hashlib, hmac, json, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

def u8(n): return bytes([n])
def u16(n): return struct.pack('>H', n)
def u24(n): return struct.pack('>I', n)[1:]
def v8(b): return u8(len(b)) + b
def v16(b): return u16(len(b)) + b
def hs(t, body): return u8(t) + u24(len(body)) + body
def ext(t, data): return u16(t) + v16(data)
def rec(ct, body, ver=0x0303): return u8(ct) + u16(ver) + u16(len(body)) + body

def alpn_ext(p): return ext(16, v16(v8(p)))
def client_hello(rnd, sni, suites):
    exts = ext(0, v16(u8(0) + v16(sni))) + ext(43, v8(u16(0x0304) + u16(0x0303)))
    return hs(1, u16(0x0303) + rnd + v8(b'') + v16(b''.join(u16(s) for s in suites)) + v8(b'\0') + v16(exts))
def server_hello(rnd, suite, tls13, alpn=None):
    exts = ext(43, u16(0x0304)) if tls13 else b''
    if alpn: exts += alpn_ext(alpn)
    return hs(2, u16(0x0303) + rnd + v8(b'') + u16(suite) + u8(0) + v16(exts))

def hkdf_expand(h, prk, info, n):
    out, t, i = b'', b'', 1
    while len(out) < n:
        t = hmac.new(prk, t + info + u8(i), h).digest(); out += t; i += 1
    return out[:n]
def expand_label(h, secret, label, ctx, n):
    full = b'tls13 ' + label
    return hkdf_expand(h, secret, u16(n) + v8(full) + v8(ctx), n)
def prf(h, secret, label, seed, n):
    out, a = b'', hmac.new(secret, label + seed, h).digest()
    while len(out) < n:
        out += hmac.new(secret, a + label + seed, h).digest(); a = hmac.new(secret, a, h).digest()
    return out[:n]

class Seal13:
    def __init__(self, aead, h, secret, keylen):
        self.aead, self.h, self.keylen = aead, h, keylen; self.set(secret)
    def set(self, secret):
        self.secret = secret
        self.key = expand_label(self.h, secret, b'key', b'', self.keylen)
        self.iv = expand_label(self.h, secret, b'iv', b'', 12); self.seq = 0
    def update(self):
        self.set(expand_label(self.h, self.secret, b'traffic upd', b'', hashlib.new(self.h).digest_size))
    def seal(self, ct, data, pad=0):
        inner = data + u8(ct) + b'\0' * pad
        hdr = u8(23) + u16(0x0303) + u16(len(inner) + 16)
        nonce = bytes(a ^ b for a, b in zip(self.iv, b'\0' * 4 + struct.pack('>Q', self.seq)))
        self.seq += 1
        return hdr + self.aead(self.key).encrypt(nonce, inner, hdr)

class Seal12:
    def __init__(self, aead, key, iv):
        self.aead, self.key, self.iv, self.seq = aead, key, iv, 0
    def seal(self, ct, data):
        aad = struct.pack('>Q', self.seq) + u8(ct) + u16(0x0303) + u16(len(data))
        if self.aead is AESGCM:
            explicit = struct.pack('>Q', self.seq ^ 0x0102030405060708)
            body = explicit + AESGCM(self.key).encrypt(self.iv + explicit, data, aad)
        else:
            nonce = bytes(a ^ b for a, b in zip(self.iv, b'\0' * 4 + struct.pack('>Q', self.seq)))
            body = ChaCha20Poly1305(self.key).encrypt(nonce, data, aad)
        self.seq += 1
        return rec(ct, body)

def det(label, n):  # deterministic "random" bytes
    out = b''
    i = 0
    while len(out) < n:
        out += hashlib.sha256(label.encode() + u8(i)).digest(); i += 1
    return out[:n]

def tls13_case():
    cr, sr = det('cr13', 32), det('sr13', 32)
    secrets = {k: det(k, 32) for k in ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
                                         'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0']}
    mk = lambda k: Seal13(ChaCha20Poly1305, 'sha256', secrets[k], 32)
    c_hs, s_hs = mk('CLIENT_HANDSHAKE_TRAFFIC_SECRET'), mk('SERVER_HANDSHAKE_TRAFFIC_SECRET')
    c_ap, s_ap = mk('CLIENT_TRAFFIC_SECRET_0'), mk('SERVER_TRAFFIC_SECRET_0')
    ee = hs(8, v16(alpn_ext(b'h2')))
    recs, app = [], []
    recs.append((True, rec(22, client_hello(cr, b'chacha.example', [0x1303]), 0x0301)))
    recs.append((False, rec(22, server_hello(sr, 0x1303, True))))
    recs.append((False, rec(20, b'\x01')))
    recs.append((False, s_hs.seal(22, ee + hs(11, b'\0' * 4))))
    recs.append((False, s_hs.seal(22, hs(15, b'\0' * 8) + hs(20, det('sf', 32)), pad=7)))
    recs.append((True, rec(20, b'\x01')))
    recs.append((True, c_hs.seal(22, hs(20, det('cf', 32)))))
    recs.append((False, s_ap.seal(22, hs(4, b'\0' * 13))))  # NewSessionTicket
    for i, (c, msg) in enumerate([(True, b'GET / HTTP/1.1\r\n\r\n'), (False, b'HTTP/1.1 101 OK\r\n\r\n'), (True, b'')]):
        recs.append((c, (c_ap if c else s_ap).seal(23, msg, pad=i * 5))); app.append((c, msg))
    recs.append((False, s_ap.seal(22, hs(24, b'\x01'))))  # KeyUpdate(update_requested)
    s_ap.update()
    recs.append((True, c_ap.seal(22, hs(24, b'\x00'))))
    c_ap.update()
    for c, msg in [(False, b'after server update'), (True, b'after client update')]:
        recs.append((c, (c_ap if c else s_ap).seal(23, msg))); app.append((c, msg))
    recs.append((True, c_ap.seal(21, b'\x01\x00')))
    keylog = ''.join(f'{k} {cr.hex()} {v.hex()}\n' for k, v in secrets.items())
    return dict(name='tls13_chacha20', keylog=keylog, version='1.3', suite='TLS_CHACHA20_POLY1305_SHA256',
                sni='chacha.example', alpn='h2', records=recs, app=app)

def tls12_case(name, suite_id, suite_name, aead, h, keylen, ivlen):
    cr, sr, ms = det(name + 'cr', 32), det(name + 'sr', 32), det(name + 'ms', 48)
    kb = prf(h, ms, b'key expansion', sr + cr, 2 * keylen + 2 * ivlen)
    ck, sk = kb[:keylen], kb[keylen:2 * keylen]
    civ, siv = kb[2 * keylen:2 * keylen + ivlen], kb[2 * keylen + ivlen:]
    c, s = Seal12(aead, ck, civ), Seal12(aead, sk, siv)
    recs, app = [], []
    recs.append((True, rec(22, client_hello(cr, b'tls12.example', [suite_id]), 0x0301)))
    recs.append((False, rec(22, server_hello(sr, suite_id, False, b'http/1.1') + hs(11, b'\0' * 3) + hs(14, b''))))
    recs.append((True, rec(22, hs(16, b'\x01\x04'))))
    recs.append((True, rec(20, b'\x01')))
    recs.append((True, c.seal(22, hs(20, det('cf', 12)))))
    recs.append((False, rec(22, hs(4, b'\0' * 10))))
    recs.append((False, rec(20, b'\x01')))
    recs.append((False, s.seal(22, hs(20, det('sf', 12)))))
    for cl, msg in [(True, b'GET /x HTTP/1.1\r\n\r\n'), (False, b'HTTP/1.1 101 Switching\r\n\r\n' + b'z' * 3000), (True, b'\x81\x00')]:
        recs.append((cl, (c if cl else s).seal(23, msg))); app.append((cl, msg))
    recs.append((False, s.seal(21, b'\x01\x00')))
    return dict(name=name, keylog=f'CLIENT_RANDOM {cr.hex()} {ms.hex()}\n', version='1.2', suite=suite_name,
                sni='tls12.example', alpn='http/1.1', records=recs, app=app)

cases = [tls13_case(),
         tls12_case('tls12_chacha20', 0xCCA8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', ChaCha20Poly1305, 'sha256', 32, 12),
         tls12_case('tls12_aes256gcm', 0xC030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', AESGCM, 'sha384', 32, 4)]
for cs in cases:
    cs['records'] = [[c, r.hex()] for c, r in cs['records']]
    cs['app'] = [[c, m.hex()] for c, m in cs['app']]
json.dump({'cases': cases}, open(__file__.rsplit('/', 1)[0] + '/synthetic.json', 'w'), indent=1)
print('wrote', len(cases), 'cases')
