"""What an operator's tests ask of the Python cassandra-driver, against a Ringgate node.

    python ops.py tls <host> <port> <keyspace> <ca.pem> [<cert.pem> <key.pem>]
    python ops.py load <host> <port> <keyspace> <seconds> <concurrency>
    python ops.py drain <host> <port> <keyspace> <concurrency>
    python ops.py metrics <url>

tls: connects over TLS (the node's certificate checked against the CA and its IP address;
the client certificate presented when given), writes and reads rows, prints `tls=<version>`,
`rows=<n>`; a refused connection prints `error=connect: ...` and exits 1.

load: writes and reads for <seconds> with <concurrency> requests in flight; prints `ops=`,
`errors=`.

drain: keeps <concurrency> writes in flight (each row's id unique) until a request is refused
or fails; then waits for every request still in flight. Prints `started` once the first
writes are acknowledged. A line on stdin marks the requests in flight then (`marked=<n>`):
the test sends it just before it stops the node. At the end: `ok=` (acknowledged writes),
`refused=` (answered with the node's "shutting down" error), `lost=` (anything else: no
answer, a broken connection, another error; `lost_closed=` those that found their connection
closed, or no connection left to send on, `lost_other=` the rest), the same three for the marked requests
(`marked_ok=`, `marked_refused=`, `marked_lost=`) and `acked=<id,id,...>`.

metrics: fetches <url>, parses it with the Prometheus project's strict OpenMetrics parser
(prometheus_client.openmetrics.parser) and prints each sample as `name{labels} value`, after
`families=<n>`; an exposition that does not parse prints `error=...` and exits 1.

Every line is `key=value` on stdout; the driver's log goes to stderr.
"""

import logging
import ssl
import sys
import threading
import time
import urllib.request

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import RoundRobinPolicy


def say(key, value):
    print("%s=%s" % (key, value), flush=True)


def connect(host, port, ssl_context=None):
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=30)
    options = {"server_hostname": host} if ssl_context is not None else None
    cluster = Cluster(
        [host],
        port=port,
        protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=20,
        control_connection_timeout=20,
        ssl_context=ssl_context,
        ssl_options=options,
    )
    return cluster, cluster.connect()


def schema(session, keyspace):
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}" % keyspace
    )
    session.execute(
        "CREATE TABLE IF NOT EXISTS %s.t (k int PRIMARY KEY, v text)" % keyspace
    )


def tls(host, port, keyspace, ca, cert=None, key=None):
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = True
    if cert:
        context.load_cert_chain(cert, key)
    try:
        cluster, session = connect(host, port, context)
    except Exception as e:  # the refusal is the expected outcome of some runs
        say("error", "connect: %s" % str(e).replace("\n", " "))
        return 1
    try:
        sock = cluster.control_connection._connection._socket
        say("tls", sock.version())
        schema(session, keyspace)
        insert = session.prepare("INSERT INTO %s.t (k, v) VALUES (?, ?)" % keyspace)
        for k in range(50):
            session.execute(insert, (k, "v%d" % k))
        rows = list(session.execute("SELECT k, v FROM %s.t" % keyspace))
        say("rows", len(rows))
        select = session.prepare("SELECT v FROM %s.t WHERE k = ?" % keyspace)
        say("v7", session.execute(select, (7,)).one().v)
    except Exception as e:
        say("error", "requests: %s" % str(e).replace("\n", " "))
        return 1
    finally:
        cluster.shutdown()
    return 0


def load(host, port, keyspace, seconds, concurrency):
    cluster, session = connect(host, port)
    schema(session, keyspace)
    insert = session.prepare("INSERT INTO %s.t (k, v) VALUES (?, ?)" % keyspace)
    select = session.prepare("SELECT v FROM %s.t WHERE k = ?" % keyspace)
    lock = threading.Lock()
    state = {"ops": 0, "errors": 0, "next": 0, "running": 0}
    done = threading.Event()
    deadline = time.monotonic() + seconds

    def issue():
        with lock:
            if time.monotonic() >= deadline:
                if state["running"] == 0:
                    done.set()
                return
            n = state["next"]
            state["next"] += 1
            state["running"] += 1
        if n % 2 == 0:
            future = session.execute_async(insert, (n % 1000, "v"))
        else:
            future = session.execute_async(select, (n % 1000,))
        future.add_callbacks(finished, failed)

    def finished(_rows, ok=True):
        with lock:
            state["running"] -= 1
            state["ops" if ok else "errors"] += 1
        issue()

    def failed(_error):
        finished(None, ok=False)

    for _ in range(concurrency):
        issue()
    done.wait(seconds + 60)
    say("ops", state["ops"])
    say("errors", state["errors"])
    cluster.shutdown()
    return 0


def drain(host, port, keyspace, concurrency):
    cluster, session = connect(host, port)
    schema(session, keyspace)
    session.execute("TRUNCATE %s.t" % keyspace)
    insert = session.prepare("INSERT INTO %s.t (k, v) VALUES (?, ?)" % keyspace)
    lock = threading.Lock()
    state = {"next": 0, "running": 0, "stop": False, "started": False}
    acked, refused, lost = [], [], []
    in_flight, marked = set(), set()
    done = threading.Event()

    def mark():
        # The test says it is about to stop the node: what is in flight now must be answered.
        sys.stdin.readline()
        with lock:
            marked.update(in_flight)
        say("marked", len(marked))

    threading.Thread(target=mark, daemon=True).start()

    def issue():
        with lock:
            if state["stop"]:
                if state["running"] == 0:
                    done.set()
                return
            n = state["next"]
            state["next"] += 1
            state["running"] += 1
            in_flight.add(n)
        future = session.execute_async(insert, (n, "v%d" % n))
        future.add_callbacks(lambda _rows, n=n: finished(n, None), lambda e, n=n: finished(n, e))

    def finished(n, error):
        with lock:
            state["running"] -= 1
            in_flight.discard(n)
            if error is None:
                acked.append(n)
                if len(acked) == 100 and not state["started"]:
                    state["started"] = True
                    say("started", "true")
            elif "shutting down" in str(error):
                refused.append(n)
                state["stop"] = True
            else:
                lost.append((n, str(error).replace("\n", " ")))
                state["stop"] = True
        issue()

    for _ in range(concurrency):
        issue()
    done.wait(120)
    say("ok", len(acked))
    say("refused", len(refused))
    say("lost", len(lost))
    # Requests sent after the drain began may find the connection closing: the node closes
    # once it answered everything it received, and cannot answer what it never read.
    # (NoHostAvailable with no error of any host: the driver had no connection left to send on.)
    closed = [
        n
        for n, e in lost
        if "was closed" in e or "ConnectionShutdown" in e or e.endswith("any hosts', {})")
    ]
    say("lost_closed", len(closed))
    say("lost_other", len(lost) - len(closed))
    lost_ids = set(n for n, _ in lost)
    say("marked_ok", len(marked & set(acked)))
    say("marked_refused", len(marked & set(refused)))
    say("marked_lost", len(marked & lost_ids))
    if lost:
        say("lost_errors", "; ".join("%d: %s" % e for e in lost[:5]))
    say("running", state["running"])
    say("acked", ",".join(str(n) for n in sorted(acked)))
    cluster.shutdown()
    return 0


def metrics(url):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode("utf-8")
    say("content_type", content_type)
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:
        say("error", "%s: %s" % (type(e).__name__, e))
        return 1
    say("families", len(families))
    for family in families:
        for sample in family.samples:
            labels = ",".join('%s="%s"' % kv for kv in sorted(sample.labels.items()))
            print("%s{%s} %r" % (sample.name, labels, sample.value), flush=True)
    return 0


def main(argv):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    mode, args = argv[1], argv[2:]
    if mode == "tls":
        return tls(args[0], int(args[1]), args[2], *args[3:])
    if mode == "load":
        return load(args[0], int(args[1]), args[2], float(args[3]), int(args[4]))
    if mode == "drain":
        return drain(args[0], int(args[1]), args[2], int(args[3]))
    if mode == "metrics":
        return metrics(args[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
