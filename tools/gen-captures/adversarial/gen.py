#!/usr/bin/env python3
"""Records wsinspect's adversarial corpus: real clients talking to real
servers (Debian packages, PyPI) over non-WebSocket TCP protocols on the
loopback of a private network namespace (MTU 1500, no segmentation
offload, so segments are Ethernet-sized), captured with tcpdump, plus one positive control (MQTT over
WebSocket). Not run by tests; tests read the committed captures.

For every scenario it writes into OUTDIR:
  <name>.pcap              the full capture (SYN captured)
  <name>_mid.pcap          the same with its first packets removed (editcap),
                           so that it starts inside the stream after the
                           protocol's opening
  <name>[_mid].expect.json the truth, from what the peers did: endpoints
                           (the SYN's sender is the client), the application
                           protocol, and for HTTP the exchanges the server
                           (or curl/nghttp) logged (method, target, status,
                           in order).

Usage (as root; see captures/adversarial/README.md for the packages):
    python3 tools/gen-captures/adversarial/gen.py OUTDIR [scenario ...]

The script re-runs itself inside a fresh netns (needs iproute2, ethtool).
Every server listens on 127.0.0.1 or ::1 there on its own port in
10000..10999, tcpdump records only that port, every process is stopped at
the end and the namespace deleted. Needs tcpdump, editcap (tshark) and the
peers listed in captures/adversarial/README.md.
"""
import hashlib, json, os, random, shutil, signal, socket, struct, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = None
WORK = None
SCENARIOS = {}
PROCS = []
_LAST_CONNS = []


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def spawn(cmd, **kw):
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_port(host, port, timeout=60):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def run(cmd, **kw):
    log("  $", cmd if isinstance(cmd, str) else " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


class Tcpdump:
    """tcpdump on lo, only the scenario's port: started before the client
    connects (so the SYN is in), stopped after the connection closed."""

    def __init__(self, path, port):
        self.path = path
        self.p = spawn(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", path, f"tcp port {port}"],
                       stderr=subprocess.PIPE)
        # tcpdump says "listening on" once the socket is bound.
        line = self.p.stderr.readline()
        if b"listening" not in line:
            raise RuntimeError(line)
        time.sleep(0.3)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        time.sleep(0.8)
        stop(self.p, signal.SIGINT)


# ---------------------------------------------------------------- pcap

def read_pcap(path):
    """Packets of a tcpdump -i lo capture (LINKTYPE_EN10MB): number, tcp
    endpoints, flags, payload."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    link = struct.unpack("<I", data[20:24])[0]
    assert link == 1, link
    off, n, out = 24, 0, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        n += 1
        et = struct.unpack("!H", frame[12:14])[0]
        if et == 0x0800:
            ip = frame[14:]
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            tcp = ip[ihl:total]
        elif et == 0x86DD:
            ip = frame[14:]
            plen = struct.unpack("!H", ip[4:6])[0]
            src = "[%s]" % socket.inet_ntop(socket.AF_INET6, ip[8:24])
            dst = "[%s]" % socket.inet_ntop(socket.AF_INET6, ip[24:40])
            tcp = ip[40:40 + plen]
        else:
            continue
        sp, dp = struct.unpack("!HH", tcp[:4])
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        out.append({"no": n, "src": f"{src}:{sp}", "dst": f"{dst}:{dp}",
                    "syn": bool(flags & 2), "ack": bool(flags & 16), "payload": tcp[doff:]})
    return out


def connections(pkts):
    """Client/server of every connection, in order of first packet; the
    client is the sender of the SYN without ACK."""
    conns = {}
    for p in pkts:
        key = frozenset((p["src"], p["dst"]))
        c = conns.setdefault(key, {"first": p["no"], "client": None, "server": None, "syn": False})
        if p["syn"] and not p["ack"]:
            c["client"], c["server"], c["syn"] = p["src"], p["dst"], True
    return [c for c in sorted(conns.values(), key=lambda c: c["first"])]


def cut(src, dst, first_kept):
    """Drops packets 1..first_kept-1 (editcap keeps the range given)."""
    n = len(read_pcap(src))
    run(["editcap", "-F", "pcap", "-r", src, dst, f"{first_kept}-{n}"], stdout=subprocess.DEVNULL)


def nth_data_packet(pkts, k, src=None):
    """Number of the packet after the k-th packet carrying payload (from
    `src` if given): the first packet kept by a cut after k segments."""
    seen = 0
    for i, p in enumerate(pkts):
        if p["payload"] and (src is None or p["src"] == src):
            seen += 1
            if seen == k:
                return pkts[i + 1]["no"]
    raise RuntimeError(f"fewer than {k} data packets")


def packet_starting(pkts, prefix, after=0):
    """Number of the first packet (after packet `after`) whose payload
    starts with `prefix`."""
    for p in pkts:
        if p["no"] > after and p["payload"].startswith(prefix):
            return p["no"]
    raise RuntimeError(f"no packet starts with {prefix!r}")


def write_expect(pcap, generator, notes, conns, info):
    """conns: from connections(); info(conn) -> dict of app facts."""
    out = {"capture": os.path.basename(pcap), "generator": generator, "notes": notes, "connections": []}
    for c in conns:
        e = {"client": c["client"], "server": c["server"], "syn_captured": c["syn"]}
        e.update(info(c))
        out["connections"].append(e)
    path = pcap[:-len(".pcap")] + ".expect.json"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    log("  wrote", path, f"({len(conns)} connection(s), {os.path.getsize(pcap)} bytes)")


def record(name, port, client, first_kept, notes, info, mid_notes=None):
    """Runs `client` under tcpdump, writes the full capture, then the cut
    one. first_kept(pkts, conns) -> first packet number of the cut capture.
    info(conn, mid) -> dict (app, websocket, http_exchanges, ...)."""
    full = os.path.join(OUT, f"{name}.pcap")
    time.sleep(1)  # let wait_port's probe connection finish before recording
    with Tcpdump(full, port):
        client()
    gen = f"tools/gen-captures/adversarial/gen.py {name}"
    pkts = read_pcap(full)
    conns = connections(pkts)
    _LAST_CONNS[:] = conns
    # Endpoints from the full capture: a cut keeps the SYN sender's role.
    assert all(c["syn"] for c in conns), f"{name}: a connection without SYN"
    write_expect(full, gen, notes, conns, lambda c: info(c, None))
    k = first_kept(pkts, conns)
    mid = os.path.join(OUT, f"{name}_mid.pcap")
    cut(full, mid, k)
    mpkts = read_pcap(mid)
    keep = []
    for c in conns:
        ends = {c["client"], c["server"]}
        if any({p["src"], p["dst"]} == ends for p in mpkts):
            syn = any({p["src"], p["dst"]} == ends and p["syn"] for p in mpkts)
            keep.append(dict(c, syn=syn))
    write_expect(mid, gen, (mid_notes or notes) + f" Cut: packets 1-{k - 1} of {name}.pcap removed (editcap -r {name}.pcap {name}_mid.pcap {k}-).",
                 keep, lambda c: info(c, k))


def adversarial_bytes(n, seed):
    """Binary payload whose bytes could pass for WebSocket frame headers:
    0x81/0x82/0x88/0x89 followed by a length < 126, repeated, then noise."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        op = rnd.choice([0x81, 0x82, 0x88, 0x89, 0x8A, 0x01, 0x02])
        ln = rnd.randint(0, 125)
        out += bytes([op, ln]) + rnd.randbytes(ln)
    return bytes(out[:n])


def simple(app, extra=None):
    def info(c, mid):
        d = {"app": app, "websocket": False}
        if extra:
            d.update(extra)
        return d
    return info


# ---------------------------------------------------------------- scenarios

@scenario
def redis():
    """redis-server; redis-cli over one connection with binary values, then
    redis-benchmark (2 clients) on IPv6 loopback."""
    port = 10379
    srv = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1 ::1", "--save", "", "--appendonly", "no", "--rename-command", "COMMAND", ""])
    wait_port("127.0.0.1", port)
    cmds = ["PING", 'SET greeting "hello"', 'SET frame "\\x81\\x05hello\\x82\\x03abc"',
            'SET blob "' + "".join(f"\\x{b:02x}" for b in adversarial_bytes(300, 1)) + '"',
            "GET frame", "GET blob", "RPUSH list a b c \"\\x88\\x02\\x03\\xe8\"", "LRANGE list 0 -1",
            "INCR counter", "INCR counter", 'SET big "' + "x" * 5000 + '"', "GET big", "DEL list", "QUIT"]

    def client():
        run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)], input="\n".join(cmds).encode() + b"\n", stdout=subprocess.DEVNULL)
        run(["redis-benchmark", "-h", "::1", "-p", str(port), "-n", "6", "-c", "2", "-t", "set,get,lpush", "-d", "130", "-q"], stdout=subprocess.DEVNULL)

    try:
        record("redis", port, client,
               lambda pkts, conns: nth_data_packet(pkts, 6),
               "redis-server 7 (Debian) with redis-cli sending " + str(len(cmds)) + " commands over one connection "
               "(binary values starting 0x81 0x05, 0x82, 0x88), then redis-benchmark -n 6 -c 2 over [::1].",
               simple("redis"))
    finally:
        stop(srv)


PEERS = os.path.join(HERE, "peers")


def http_log(path):
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []


def http_info(app, logf, kept_from=None, upgraded=None):
    """Exchanges of a connection as the server logged them; in a cut
    capture only those whose request is in it (kept_from(conn, k) -> index
    of the first kept exchange)."""
    def info(c, k):
        entries = http_log(logf)
        port = int(c["client"].rsplit(":", 1)[1])
        ex = [{"method": e["method"], "target": e["target"], "status": e["status"]}
              for e in entries if e["client_port"] == port]
        if k is not None and kept_from:
            ex = ex[kept_from(c, k, ex):]
        d = {"app": app, "websocket": False, "http_exchanges": ex}
        if upgraded and any(e["status"] == 101 for e in ex):
            d["upgraded_to"] = upgraded
        return d
    return info


@scenario
def http1():
    """stdlib http.server (HTTP/1.1 keep-alive) with curl on one connection:
    Content-Length and chunked bodies both ways, 100-continue, HEAD, OPTIONS *,
    PROPFIND, RPC_IN_DATA, a 404; then a pipelined batch of three."""
    port = 10080
    logf = os.path.join(WORK, "http1.log")
    srv = spawn([sys.executable, os.path.join(PEERS, "http_server.py"), "127.0.0.1", str(port), logf])
    wait_port("127.0.0.1", port)
    open(logf, "w").close()  # wait_port's probe connection logged nothing; start clean
    blob = os.path.join(WORK, "adv.bin")
    open(blob, "wb").write(adversarial_bytes(2000, 2))
    small = os.path.join(WORK, "small.bin")
    open(small, "wb").write(bytes([0x82, 0x10]) + bytes(range(16)))
    u = f"http://127.0.0.1:{port}"
    propfind = os.path.join(WORK, "propfind.xml")
    open(propfind, "w").write('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')
    curl = ["curl", "-sS", "-o", "/dev/null",
            f"{u}/index.html",
            "--next", "-sS", "-o", "/dev/null", f"{u}/chunked",
            "--next", "-sS", "-o", "/dev/null", f"{u}/early",
            "--next", "-sS", "-o", "/dev/null", "--data-binary", f"@{blob}", "-H", "Content-Type: application/octet-stream", f"{u}/upload",
            "--next", "-sS", "-o", "/dev/null", "-T", blob, "-H", "Expect: 100-continue", f"{u}/file.bin",
            "--next", "-sS", "-o", "/dev/null", "--data-binary", f"@{blob}", "-H", "Transfer-Encoding: chunked", f"{u}/chunked-upload",
            "--next", "-sS", "-o", "/dev/null", "-X", "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml",
            "--data-binary", f"@{propfind}", f"{u}/dav/",
            "--next", "-sS", "-o", "/dev/null", "-X", "RPC_IN_DATA", "--data-binary", f"@{small}", f"{u}/rpc/rpcproxy.dll?host:6001",
            "--next", "-sS", "-o", "/dev/null", f"{u}/missing",
            "--next", "-sS", "-o", "/dev/null", "-I", f"{u}/index.html",
            "--next", "-sS", "-o", "/dev/null", "-X", "OPTIONS", "--request-target", "*", f"{u}/"]

    def client():
        run(curl)
        run([sys.executable, os.path.join(PEERS, "pipeline_client.py"), "127.0.0.1", str(port)])

    def first_kept(pkts, conns):
        return packet_starting(pkts, b"PUT /file.bin ")

    try:
        record("http1", port, client, first_kept,
               "python stdlib http.server subclass (peers/http_server.py), HTTP/1.1 keep-alive. Connection 1: curl 7.88 "
               "with --next (one connection): GET, chunked GET (binary body of 0x81/0x82.. frame-like bytes), GET answered 103 Early Hints then 200, POST "
               "Content-Length, PUT with Expect: 100-continue (100 then 204), chunked POST, PROPFIND, RPC_IN_DATA, 404, "
               "HEAD (Content-Length without body), OPTIONS *. Connection 2: three pipelined requests in one send "
               "(peers/pipeline_client.py). Exchanges are the server's log.",
               http_info("http/1.1", logf, kept_from=lambda c, k, ex: [e["method"] for e in ex].index("PUT") if c is conns0(c) else 0),
               mid_notes="As http1.pcap, cut so that the first captured byte of connection 1 is its PUT request "
               "(the fifth exchange); connection 2 is whole.")
    finally:
        stop(srv)


def conns0(c):
    """The first connection of a scenario (its client port is the lowest
    in time): used by kept_from to tell which connection was cut."""
    return c if c.get("first") == min(x["first"] for x in _LAST_CONNS) else None


@scenario
def upgrade_tcp():
    """Docker-attach-like `Upgrade: tcp`: http.server answers a GET, then
    101 to a POST with Upgrade: tcp and echoes the raw stream."""
    port = 10081
    logf = os.path.join(WORK, "upgrade.log")
    srv = spawn([sys.executable, os.path.join(PEERS, "http_server.py"), "127.0.0.1", str(port), logf])
    wait_port("127.0.0.1", port)

    def client():
        run([sys.executable, os.path.join(PEERS, "upgrade_client.py"), "127.0.0.1", str(port)])

    def first_kept(pkts, conns):
        return packet_starting(pkts, b"HTTP/1.1 101 ") + 1

    try:
        record("upgrade_tcp", port, client, first_kept,
               "Docker Engine API attach as stdlib peers: http.server (peers/http_server.py) answers GET "
               ".../json with 200, then POST .../attach with Upgrade: tcp with 101 UPGRADED (Upgrade: tcp, "
               "Connection: Upgrade) and echoes every read prefixed by Docker's 8-byte raw-stream header; the "
               "client (peers/upgrade_client.py, http.client) sends raw chunks, some shaped like WebSocket frames "
               "(81 05 'hello', 82 7d + 125 bytes, 88 02 03 e8) but unmasked from the client.",
               http_info("http/1.1 upgrade tcp (docker attach)", logf, kept_from=lambda c, k, ex: len(ex), upgraded="tcp"),
               mid_notes="As upgrade_tcp.pcap, cut right after the 101 response: the capture holds only the raw "
               "upgraded stream (no handshake, no SYN), so no HTTP exchange and no upgrade can be seen.")
    finally:
        stop(srv)

def py_peer(*args):
    return [sys.executable, os.path.join(PEERS, args[0])] + [str(a) for a in args[1:]]


@scenario
def dns_tcp():
    """dnslib server; dig +tcp +keepopen: several queries on one connection
    (TXT answers of 40 to 3000 bytes with 0x81/0x82.. strings), then kdig-less
    second dig connection on IPv6."""
    port = 10053
    srv = spawn(py_peer("dns_server.py", "127.0.0.1", port))
    srv6 = spawn(py_peer("dns_server.py", "::1", port))
    wait_port("127.0.0.1", port)
    wait_port("::1", port)

    def client():
        run(["dig", "@127.0.0.1", "-p", str(port), "+tcp", "+keepopen", "+tries=1",
             "a.test", "A", "t40.test", "TXT", "t120.test", "TXT", "t600.test", "TXT", "t3000.test", "TXT", "b.test", "A"],
            stdout=subprocess.DEVNULL)
        run(["dig", "@::1", "-p", str(port), "+tcp", "+keepopen", "+tries=1", "t90.test", "TXT", "t125.test", "TXT"],
            stdout=subprocess.DEVNULL)

    try:
        record("dns_tcp", port, client, lambda pkts, conns: nth_data_packet(pkts, 2),
               "DNS over TCP (RFC 7766): python dnslib DNSServer(tcp=True) answering TXT records made of binary "
               "strings starting 0x81/0x82/0x88/0x89; dig 9.18 +tcp +keepopen sends 6 queries over one connection "
               "to 127.0.0.1, then 2 over one connection to [::1].",
               simple("dns"),
               mid_notes="As dns_tcp.pcap, cut after the first query and its answer of the first connection.")
    finally:
        stop(srv)
        stop(srv6)


@scenario
def tls():
    """openssl s_server -rev with a self-signed cert; openssl s_client sends
    lines of 10 to 3000 bytes, TLS 1.3 then TLS 1.2."""
    port = 10443
    key, crt = os.path.join(WORK, "k.pem"), os.path.join(WORK, "c.pem")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "30",
         "-subj", "/CN=adversarial.test"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = spawn(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", crt, "-key", key, "-rev", "-quiet"])
    wait_port("127.0.0.1", port)
    time.sleep(0.3)

    def one(version):
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "adversarial.test",
                              version, "-quiet", "-no_ign_eof"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rnd = random.Random(version)
        for n in (10, 125, 126, 600, 3000, 40):
            p.stdin.write(bytes(rnd.choice(b"abcdefghij\x81\x82") for _ in range(n)) + b"\n")
            p.stdin.flush()
            time.sleep(0.1)
        time.sleep(0.3)
        p.stdin.close()
        p.wait(10)

    def client():
        one("-tls1_3")
        one("-tls1_2")

    try:
        record("tls", port, client, lambda pkts, conns: nth_data_packet(pkts, 6, src=conns[0]["client"]),
               "TLS: openssl 3.0 s_server -rev (self-signed RSA cert, reverses each line) and two openssl s_client "
               "connections (TLS 1.3, then TLS 1.2), each sending 6 lines of 10..3000 bytes. No keys: the "
               "application data is opaque.",
               simple("tls"),
               mid_notes="As tls.pcap, cut inside the first connection's application data (after the client's 6th data packet: hello, finished, first lines).")
    finally:
        stop(srv)


@scenario
def ssh():
    """OpenSSH sshd on a loopback port, key authentication, a command that
    reads 5000 frame-like bytes from stdin and prints a base64 blob."""
    port = 10022
    d = os.path.join(WORK, "ssh")
    os.makedirs(d, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host"])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/user"])
    shutil.copy(f"{d}/user.pub", f"{d}/authorized_keys")
    open(f"{d}/sshd_config", "w").write(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n")
    srv = spawn(["/usr/sbin/sshd", "-D", "-f", f"{d}/sshd_config", "-E", f"{d}/sshd.log"])
    wait_port("127.0.0.1", port)
    data = os.path.join(d, "in.bin")
    open(data, "wb").write(adversarial_bytes(5000, 9))

    def client():
        with open(data, "rb") as stdin:
            run(["ssh", "-F", "/dev/null", "-i", f"{d}/user", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-p", str(port), "root@127.0.0.1",
                 "wc -c; head -c 3000 /dev/urandom | base64; for i in 1 2 3; do echo line $i; sleep 0.1; done"],
                stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        record("ssh", port, client, lambda pkts, conns: nth_data_packet(pkts, 16),
               "SSH-2: OpenSSH 9.2 sshd (Debian) on 127.0.0.1, ed25519 key authentication, ssh client running a "
               "command that reads 5000 frame-like bytes on stdin and prints 4 kB of base64 and three delayed lines.",
               simple("ssh"),
               mid_notes="As ssh.pcap, cut after 16 data packets (version exchange, key exchange, NEWKEYS and user authentication gone).")
    finally:
        stop(srv)


@scenario
def smtp():
    """aiosmtpd; swaks with a binary attachment, then python smtplib
    sending two messages over one connection."""
    port = 10025
    srv = spawn([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"])
    wait_port("127.0.0.1", port)
    att = os.path.join(WORK, "att.bin")
    open(att, "wb").write(adversarial_bytes(3000, 4))
    smtplib_client = (
        "import smtplib, sys\n"
        "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n"
        "s.ehlo('client.test')\n"
        "for i, n in enumerate((80, 4000)):\n"
        "    body = 'Subject: m%d\\r\\n\\r\\n' % i + ('line %d of a message\\r\\n' % i) * (n // 22)\n"
        "    s.sendmail('a@client.test', ['b@server.test', 'c@server.test'], body)\n"
        "s.noop()\n"
        "s.quit()\n")

    def client():
        run(["swaks", "--server", f"127.0.0.1:{port}", "--from", "x@client.test", "--to", "y@server.test",
             "--helo", "client.test", "--attach", f"@{att}", "--attach-type", "application/octet-stream"],
            stdout=subprocess.DEVNULL)
        run([sys.executable, "-c", smtplib_client, str(port)])

    try:
        record("smtp", port, client, lambda pkts, conns: nth_data_packet(pkts, 4),
               "SMTP: python aiosmtpd (Sink handler); swaks sends one message with a 3000-byte binary attachment "
               "(base64), then python smtplib sends two messages (80 B, 4 kB) to two recipients over one connection.",
               simple("smtp"),
               mid_notes="As smtp.pcap, cut after the banner, EHLO, its reply and MAIL FROM of the first connection.")
    finally:
        stop(srv)


@scenario
def modbus():
    port = 10502
    srv = spawn(py_peer("modbus_peers.py", "server", "127.0.0.1", port))
    wait_port("127.0.0.1", port)

    def client():
        run(py_peer("modbus_peers.py", "client", "127.0.0.1", port))

    try:
        record("modbus", port, client, lambda pkts, conns: nth_data_packet(pkts, 2),
               "Modbus/TCP: pymodbus 3.x StartTcpServer and ModbusTcpClient (peers/modbus_peers.py): write/read "
               "holding registers with values 0x8105, 0x827d.., coils, 100 registers from 0x8100, input registers.",
               simple("modbus"),
               mid_notes="As modbus.pcap, cut after the first request and its response.")
    finally:
        stop(srv)

def mosquitto(port_tcp, port_ws):
    conf = os.path.join(WORK, "mosquitto.conf")
    open(conf, "w").write(f"per_listener_settings false\nallow_anonymous true\n"
                          f"listener {port_tcp} 127.0.0.1\nprotocol mqtt\n"
                          f"listener {port_ws} 127.0.0.1\nprotocol websockets\n")
    srv = spawn(["mosquitto", "-c", conf])
    wait_port("127.0.0.1", port_tcp)
    wait_port("127.0.0.1", port_ws)
    return srv


@scenario
def mqtt():
    port = 10883
    srv = mosquitto(port, 10880)

    def client():
        run(py_peer("mqtt_client.py", "tcp", "127.0.0.1", port))
        run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "adv/pub", "-m", "\x81\x05hello from mosquitto_pub"])

    try:
        record("mqtt", port, client, lambda pkts, conns: nth_data_packet(pkts, 4),
               "MQTT 3.1.1 over TCP: mosquitto 2.0 broker; paho-mqtt 2 client (peers/mqtt_client.py) subscribes "
               "(SUBSCRIBE fixed header 0x82), publishes 8 payloads of 0..3000 bytes at QoS 0/1/2 that come back, "
               "subscribes/unsubscribes, disconnects; then mosquitto_pub publishes once at QoS 1.",
               simple("mqtt"),
               mid_notes="As mqtt.pcap, cut after CONNECT, CONNACK, the first SUBSCRIBE and SUBACK.")
    finally:
        stop(srv)


@scenario
def mqtt_ws():
    """Positive control: MQTT over WebSocket IS WebSocket."""
    port = 10880
    srv = mosquitto(10883, port)

    def client():
        run(py_peer("mqtt_client.py", "websockets", "127.0.0.1", port))

    try:
        record("mqtt_ws", port, client, lambda pkts, conns: nth_data_packet(pkts, 4),
               "Positive control. MQTT 3.1.1 over WebSocket (subprotocol mqtt): mosquitto 2.0 websockets "
               "listener (libwebsockets); paho-mqtt 2 client with transport=websockets, path /mqtt, same "
               "exchange as mqtt.pcap. This IS WebSocket and must be reported as such.",
               # paho's connect() returns only after mosquitto's 101 to GET /mqtt.
               lambda c, k: {"app": "mqtt over websocket", "websocket": True,
                             "http_exchanges": [] if k else [{"method": "GET", "target": "/mqtt", "status": 101}]},
               mid_notes="Positive control, as mqtt_ws.pcap cut after the WebSocket handshake and the "
               "CONNECT/CONNACK frames: WebSocket picked up mid-stream, many frames each way follow.")
    finally:
        stop(srv)

SQL_PG = """
CREATE TABLE adv (id int PRIMARY KEY, b bytea, s text);
INSERT INTO adv VALUES (1, decode('810568656c6c6f', 'hex'), 'hello'),
  (2, decode('827e0100', 'hex') || decode(repeat('82', 256), 'hex'), repeat('x', 125)),
  (3, decode('880203e8', 'hex'), repeat('données ', 400));
SELECT id, b, length(s) FROM adv ORDER BY id;
SELECT g, md5(g::text) FROM generate_series(1, 60) g;
UPDATE adv SET s = upper(s) WHERE id = 2;
BEGIN; DELETE FROM adv WHERE id = 3; ROLLBACK;
SELECT count(*) FROM adv;
DROP TABLE adv;
"""


@scenario
def postgres():
    port = 10432
    bindir = "/usr/lib/postgresql/15/bin"
    d = tempfile.mkdtemp(prefix="wsadv-pg-")
    os.chmod(d, 0o755)
    shutil.chown(d, "postgres", "postgres")
    pw = os.path.join(d, "pw")
    open(pw, "w").write("adv-secret\n")
    shutil.chown(pw, "postgres", "postgres")
    run(["runuser", "-u", "postgres", "--", f"{bindir}/initdb", "-D", f"{d}/data", "-U", "postgres",
         "--auth=scram-sha-256", f"--pwfile={pw}"], stdout=subprocess.DEVNULL)
    srv = spawn(["runuser", "-u", "postgres", "--", f"{bindir}/postgres", "-D", f"{d}/data", "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={d}", "-c", "ssl=off"])
    wait_port("127.0.0.1", port)
    time.sleep(1)
    sql = os.path.join(d, "q.sql")
    open(sql, "w").write(SQL_PG)
    env = dict(os.environ, PGPASSWORD="adv-secret")

    def client():
        # sslmode=prefer (the default): psql asks SSLRequest first, the server says 'N'.
        run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", "-q", "-f", sql],
            env=env, stdout=subprocess.DEVNULL)
        run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", "-c", "SELECT version()"],
            env=dict(env, PGSSLMODE="disable"), stdout=subprocess.DEVNULL)

    try:
        record("postgres", port, client, lambda pkts, conns: packet_starting(pkts, b"Q\x00"),
               "PostgreSQL 15 (Debian) with SCRAM-SHA-256 and ssl=off; psql 15 (sslmode=prefer: SSLRequest "
               "answered 'N', then startup and SASL) runs a script of simple queries with bytea values "
               "starting 0x81 0x05, 0x82 0x7e, 0x88 and a 60-row result; a second psql (sslmode=disable) runs one query.",
               simple("postgresql"),
               mid_notes="As postgres.pcap, cut at the first simple Query message ('Q') of the first connection: "
               "SSLRequest, startup, authentication and parameter status are gone.")
    finally:
        stop(srv, signal.SIGINT)
        shutil.rmtree(d, ignore_errors=True)


SQL_MY = """
CREATE DATABASE IF NOT EXISTS adv; USE adv;
CREATE TABLE t (id INT PRIMARY KEY, b BLOB, s TEXT);
INSERT INTO t VALUES (1, UNHEX('810568656C6C6F'), 'hello'), (2, UNHEX(CONCAT('827E0100', REPEAT('82', 256))), REPEAT('x', 125)),
  (3, UNHEX('880203E8'), REPEAT('donnees ', 400));
SELECT id, b, LENGTH(s) FROM t ORDER BY id;
SELECT seq, MD5(seq) FROM seq_1_to_60;
UPDATE t SET s = UPPER(s) WHERE id = 2;
SELECT COUNT(*) FROM t;
DROP DATABASE adv;
"""


@scenario
def mariadb():
    port = 10306
    d = os.path.join(WORK, "my")
    os.makedirs(d, exist_ok=True)
    run(["mariadb-install-db", "--user=root", f"--datadir={d}/data", "--auth-root-authentication-method=socket",
         "--skip-test-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = f"{d}/my.sock"
    srv = spawn(["mariadbd", "--no-defaults", "--user=root", f"--datadir={d}/data", f"--port={port}", "--bind-address=127.0.0.1",
                 f"--socket={sock}", f"--pid-file={d}/my.pid", "--skip-log-bin", "--skip-ssl"])
    wait_port("127.0.0.1", port)
    run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-e",
         "CREATE USER 'adv'@'127.0.0.1' IDENTIFIED BY 'adv-secret'; GRANT ALL ON *.* TO 'adv'@'127.0.0.1';"])
    sql = os.path.join(d, "q.sql")
    open(sql, "w").write(SQL_MY)

    def client():
        with open(sql) as f:
            run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "adv", "-padv-secret", "--skip-ssl"],
                stdin=f, stdout=subprocess.DEVNULL)

    try:
        record("mariadb", port, client, lambda pkts, conns: nth_data_packet(pkts, 4),
               "MariaDB 10.11 (Debian) server and mariadb client over TCP without TLS, mysql_native_password: "
               "a script with BLOBs starting 0x81 0x05, 0x82 0x7e, 0x88 and a 60-row result.",
               simple("mysql"),
               mid_notes="As mariadb.pcap, cut after the greeting, the login and their OKs.")
    finally:
        stop(srv)

def hypercorn(host, port):
    srv = spawn([sys.executable, "-m", "hypercorn", "--bind", f"{host}:{port}", "h2_app:app"], cwd=PEERS)
    wait_port(host.strip("[]"), port)
    return srv


def h2_nghttp(u, blob, upgrade):
    """nghttp (nghttp2-client) sends its URIs concurrently on one
    connection: four GETs, then on a second connection two POSTs.
    (curl 7.88 fails to reuse a prior-knowledge connection with hypercorn:
    "Error in the HTTP2 framing layer".)"""
    gets = [f"{u}/hello", f"{u}/bytes/100", f"{u}/bytes/20000", f"{u}/bytes/126"]
    out = run(["nghttp", "-nv"] + (["-u"] if upgrade else []) + gets, stdout=subprocess.PIPE).stdout.decode()
    assert out.count(":status: 200") == 4, out
    if upgrade:
        assert "HTTP/1.1 101" in out and "HTTP Upgrade success" in out, out
    out2 = run(["nghttp", "-nv", "-d", blob, f"{u}/echo", f"{u}/echo2"], stdout=subprocess.PIPE).stdout.decode()
    assert out2.count(":status: 200") == 2, out2
    return out


@scenario
def h2c_prior():
    port = 10082
    srv = hypercorn("[::1]", port)
    blob = os.path.join(WORK, "h2.bin")
    open(blob, "wb").write(adversarial_bytes(3000, 6))

    def client():
        h2_nghttp(f"http://[::1]:{port}", blob, False)

    try:
        record("h2c_prior", port, client, lambda pkts, conns: nth_data_packet(pkts, 4),
               "HTTP/2 over cleartext TCP with prior knowledge (RFC 9113 §3.3) on [::1]: hypercorn serving an "
               "ASGI app (peers/h2_app.py); nghttp 1.52 sends 4 GETs (15 B..20 kB frame-like binary bodies) on one "
               "connection, then 2 POSTs of 3000 B on a second. The preface 'PRI * HTTP/2.0' is "
               "not an HTTP/1.x request: no HTTP/1 exchange is expected.",
               lambda c, k: {"app": "http2", "websocket": False, "http_exchanges": []},
               mid_notes="As h2c_prior.pcap, cut after 4 data packets (preface, SETTINGS, first HEADERS gone).")
    finally:
        stop(srv)


@scenario
def h2c_upgrade():
    port = 10083
    srv = hypercorn("127.0.0.1", port)
    blob = os.path.join(WORK, "h2.bin")
    open(blob, "wb").write(adversarial_bytes(3000, 6))

    def client():
        h2_nghttp(f"http://127.0.0.1:{port}", blob, True)

    try:
        record("h2c_upgrade", port, client, lambda pkts, conns: packet_starting(pkts, b"HTTP/1.1 101") + 1,
               "HTTP/2 via the h2c upgrade (RFC 7540 §3.2): hypercorn (peers/h2_app.py); nghttp -u sends "
               "GET /hello with Upgrade: h2c and HTTP2-Settings, the server answers 101 (nghttp -v logged it) "
               "and the connection continues in HTTP/2 (3 more GETs on it). The one HTTP/1 exchange is "
               "GET /hello -> 101. A second connection (nghttp -d, prior knowledge, 2 POSTs) has no HTTP/1 exchange.",
               lambda c, k: {"app": "http2 (h2c upgrade)", "websocket": False, "http_exchanges": [],
                             } if k or c is not conns0(c) else {
                             "app": "http2 (h2c upgrade)", "websocket": False, "upgraded_to": "h2c",
                             "http_exchanges": [{"method": "GET", "target": "/hello", "status": 101}]},
               mid_notes="As h2c_upgrade.pcap, cut right after the 101: only HTTP/2 frames remain on the first connection.")
    finally:
        stop(srv)

@scenario
def grpc():
    port = 10051
    srv = spawn(py_peer("grpc_peers.py", "server", "127.0.0.1", port))
    wait_port("127.0.0.1", port)

    def client():
        run(py_peer("grpc_peers.py", "client", "127.0.0.1", port))

    try:
        record("grpc", port, client, lambda pkts, conns: nth_data_packet(pkts, 6),
               "gRPC over cleartext HTTP/2 (prior knowledge): grpcio 1.x server and client with generic raw-bytes "
               "handlers (peers/grpc_peers.py): 6 unary calls of 0..20000 bytes starting 0x81 0x05, one "
               "bidirectional stream of 6 messages, one channel. Not HTTP/1: no HTTP/1 exchange.",
               lambda c, k: {"app": "grpc", "websocket": False, "http_exchanges": []},
               mid_notes="As grpc.pcap, cut after 6 data packets (preface, SETTINGS, first call's HEADERS gone).")
    finally:
        stop(srv)

@scenario
def imap():
    port = 10143
    d = tempfile.mkdtemp(prefix="wsadv-imap-")
    os.chmod(d, 0o755)
    os.makedirs(f"{d}/mail", exist_ok=True)
    shutil.chown(f"{d}/mail", "mail", "mail")
    open(f"{d}/dovecot.conf", "w").write(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {{
  driver = static
  args = password=adv-secret
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
""")
    srv = spawn(["dovecot", "-F", "-c", f"{d}/dovecot.conf"])
    wait_port("127.0.0.1", port)

    def client():
        run(py_peer("imap_client.py", "127.0.0.1", port))

    try:
        record("imap", port, client, lambda pkts, conns: nth_data_packet(pkts, 6),
               "IMAP4rev1: dovecot 2.3 (Debian dovecot-imapd) without TLS, static passdb; python imaplib logs in, "
               "creates a folder, APPENDs 3 messages (literals; one with 8-bit bytes incl. 0x81 0x05), searches, "
               "fetches bodies, stores \\Deleted, expunges, logs out.",
               simple("imap"),
               mid_notes="As imap.pcap, cut after greeting, CAPABILITY, LOGIN and their replies.")
    finally:
        stop(srv)
        shutil.rmtree(d, ignore_errors=True)

@scenario
def amqp():
    port = 10672
    d = tempfile.mkdtemp(prefix="wsadv-rmq-")
    os.chmod(d, 0o777)
    env = dict(os.environ, RABBITMQ_NODE_PORT=str(port), RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
               RABBITMQ_NODENAME="wsadv@localhost", RABBITMQ_MNESIA_BASE=f"{d}/mnesia", RABBITMQ_LOG_BASE=f"{d}/log",
               RABBITMQ_DIST_PORT="10673", ERL_EPMD_PORT="10674", RABBITMQ_PID_FILE=f"{d}/pid",
               RABBITMQ_ENABLED_PLUGINS_FILE=f"{d}/plugins", RABBITMQ_CONFIG_FILE=f"{d}/rabbitmq")
    open(f"{d}/plugins", "w").write("[].\n")
    open(f"{d}/rabbitmq.conf", "w").write("loopback_users = none\n")
    srv = spawn(["runuser", "-u", "rabbitmq", "--", "env"] + [f"{k}={v}" for k, v in env.items() if k.startswith(("RABBITMQ", "ERL"))]
                + ["rabbitmq-server"])
    wait_port("127.0.0.1", port, timeout=120)
    time.sleep(2)

    def client():
        run(py_peer("amqp_client.py", "127.0.0.1", port))

    try:
        record("amqp", port, client, lambda pkts, conns: nth_data_packet(pkts, 8),
               "AMQP 0-9-1: RabbitMQ 3.10 (Debian rabbitmq-server) and python pika: queue.declare, 7 messages of "
               "0..20000 bytes (some starting 0x81 0x05, 0x82 0x7e) published and consumed back with acks, "
               "queue.delete, close.",
               simple("amqp"),
               mid_notes="As amqp.pcap, cut after 8 data packets (protocol header, connection.start/tune/open gone).")
    finally:
        stop(srv)
        # rabbitmq-server started epmd as a daemon on ERL_EPMD_PORT: stop that one.
        # It refuses while the node's name is still registered: retry.
        for _ in range(20):
            r = subprocess.run(["epmd", "-port", "10674", "-kill"], capture_output=True)
            if b"Killed" in r.stdout or b"Cannot connect" in r.stdout + r.stderr:
                break
            time.sleep(0.5)
        shutil.rmtree(d, ignore_errors=True)

@scenario
def webdav():
    """WsgiDAV on cheroot, curl driving WebDAV extension methods on one
    keep-alive connection; the exchanges are curl's own -w record."""
    port = 10084
    root = os.path.join(WORK, "davroot")
    os.makedirs(root, exist_ok=True)
    srv = spawn(["wsgidav", "--host", "127.0.0.1", "--port", str(port), "--root", root, "--auth", "anonymous",
                 "--server", "cheroot", "--no-config"])
    wait_port("127.0.0.1", port)
    blob = os.path.join(WORK, "dav.bin")
    open(blob, "wb").write(adversarial_bytes(4000, 8))
    u = f"http://127.0.0.1:{port}"
    lock = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            '<D:locktype><D:write/></D:locktype><D:owner>adv</D:owner></D:lockinfo>')
    patch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="urn:adv"><D:set><D:prop>'
             '<A:note>\u00e9t\u00e9</A:note></D:prop></D:set></D:propertyupdate>')
    steps = [(["-X", "OPTIONS"], "/"),
             (["-X", "MKCOL"], "/coll/"),
             (["-T", blob], "/coll/a.bin"),
             (["-X", "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml", "--data-binary",
               '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'], "/coll/"),
             (["-X", "PROPPATCH", "-H", "Content-Type: application/xml", "--data-binary", patch], "/coll/a.bin"),
             (["-X", "COPY", "-H", f"Destination: {u}/coll/b.bin"], "/coll/a.bin"),
             (["-X", "MOVE", "-H", f"Destination: {u}/coll/c.bin"], "/coll/b.bin"),
             (["-X", "LOCK", "-H", "Timeout: Second-60", "-H", "Content-Type: application/xml", "--data-binary", lock],
              "/coll/c.bin"),
             ([], "/coll/a.bin"),
             (["-X", "DELETE"], "/coll/a.bin"),
             (["-X", "PROPFIND", "-H", "Depth: 0"], "/nothing-here")]
    cmd = ["curl"]
    for i, (args, path) in enumerate(steps):
        if i:
            cmd.append("--next")
        cmd += ["-sS", "-o", "/dev/null", "-w", "%{method} %{response_code} %{num_connects}\\n"] + args + [u + path]
    log_ = []

    def client():
        out = run(cmd, stdout=subprocess.PIPE).stdout.decode().split("\n")
        for (args, path), line in zip(steps, out):
            method, code, _ = line.split()
            log_.append({"method": method, "target": path, "status": int(code)})
        # one TCP connection for all: only the first transfer connected
        assert [l.split()[2] for l in out if l] == ["1"] + ["0"] * (len(steps) - 1), out

    try:
        record("webdav", port, client, lambda pkts, conns: packet_starting(pkts, b"COPY "),
               "WebDAV (RFC 4918): WsgiDAV 4.4 on cheroot, anonymous, and curl 7.88 with --next on one keep-alive "
               "connection: OPTIONS, MKCOL, PUT of 4000 frame-like bytes, PROPFIND Depth 1, PROPPATCH, COPY, MOVE, "
               "LOCK, GET, DELETE, PROPFIND of a missing resource (404). Exchanges as curl reported them "
               "(-w '%{method} %{response_code}').",
               lambda c, k: {"app": "webdav", "websocket": False,
                             "http_exchanges": log_[[e["method"] for e in log_].index("COPY"):] if k else list(log_)},
               mid_notes="As webdav.pcap, cut so that the first captured byte is the COPY request (sixth exchange).")
    finally:
        stop(srv)

def in_netns(argv):
    """Re-runs this script inside a private network namespace whose
    loopback has an Ethernet MTU (1500) and no segmentation offload, so
    that tcpdump sees the segments a real network would carry (on the
    host's lo, with a 64 kB MTU and TSO, a 20 kB message is one packet),
    and nothing the scenarios start can reach or disturb the host's ports."""
    ns = f"wsadv-gen-{os.getpid()}"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", "mtu", "1500"])
        run(["ip", "netns", "exec", ns, "ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"],
            stdout=subprocess.DEVNULL)
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__)] + argv,
                              env=dict(os.environ, WSADV_IN_NETNS=ns)).returncode
    finally:
        # A daemon left behind (epmd...) would keep the namespace alive.
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", ns])


def main():
    global OUT, WORK
    if not os.environ.get("WSADV_IN_NETNS"):
        sys.exit(in_netns(sys.argv[1:]))
    OUT = os.path.abspath(sys.argv[1])
    os.makedirs(OUT, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="wsadv-")
    names = sys.argv[2:] or list(SCENARIOS)
    try:
        for n in names:
            log(f"== {n}")
            SCENARIOS[n]()
    finally:
        for p in PROCS:
            stop(p)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
