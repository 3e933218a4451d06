"""The Python driver's side of the reliability tests (issue #14): writes that must survive a
replica's death, prepared load across a replica's restart, and a client that must see a clear
error, quickly, when no node of the cluster is left.

    reliability.py setup HOST PORT KEYSPACE RF
    reliability.py write HOST PORT KEYSPACE SECONDS CONCURRENCY OUTDIR
    reliability.py verify HOST PORT KEYSPACE OUTDIR
    reliability.py ddl HOST PORT KEYSPACE TABLE
    reliability.py probe HOST PORT KEYSPACE SECONDS
    reliability.py until_served HOST PORT KEYSPACE SECONDS

`write` inserts distinct keys at QUORUM with CONCURRENCY requests in flight (RATE a second at
most) for SECONDS, and
writes into OUTDIR: `acked` (one acknowledged key a line), `timeline` (`second_tenths count`:
acknowledgements per tenth of a second, by wall clock) and `errors` (one failed write a line:
its key and the error); it stops early when the file OUTDIR/stop appears. While it runs, the file OUTDIR/switch appearing makes it prepare a
statement no node has seen yet (its text is new) and write with that from then on: a replica
that was down then has never seen it. Every UNPREPARED answer the driver receives (it would
re-prepare invisibly) is counted and printed as `unprepared=N`.

`verify` reads every key of OUTDIR/acked back at QUORUM and prints `checked`, `lost` and
`read_errors`. Every command prints `key=value` lines.
"""

import os
import sys
import threading
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import RoundRobinPolicy
from cassandra.protocol import PreparedQueryNotFound

UNPREPARED = {"count": 0}
_original_init = PreparedQueryNotFound.__init__


def _counting_init(self, *args, **kwargs):
    UNPREPARED["count"] += 1
    _original_init(self, *args, **kwargs)


# Every UNPREPARED answer the driver decodes, whether or not it heals it by itself.
PreparedQueryNotFound.__init__ = _counting_init


# Writes a second at most: enough to see throughput fall and recover, few enough to read
# every acknowledged key back in seconds.
RATE = 250


def say(key, value):
    print("%s=%s" % (key, value), flush=True)


def connect(host, port, request_timeout=15):
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(),
        request_timeout=request_timeout,
        consistency_level=ConsistencyLevel.QUORUM,
    )
    cluster = Cluster(
        [host],
        port=int(port),
        protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=10,
        control_connection_timeout=10,
        # RG_HEARTBEAT: seconds between heartbeats on idle connections (the driver's default,
        # 30, unless a test's node closes idle clients sooner).
        idle_heartbeat_interval=float(os.environ.get("RG_HEARTBEAT", "30")),
    )
    return cluster, cluster.connect()


def setup(host, port, keyspace, rf):
    cluster, session = connect(host, port, request_timeout=60)
    session.execute("DROP KEYSPACE IF EXISTS %s" % keyspace)
    session.execute(
        "CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': %d}"
        % (keyspace, int(rf))
    )
    session.execute("CREATE TABLE %s.t (k bigint PRIMARY KEY, v text)" % keyspace)
    say("schema_agreed", str(cluster.control_connection.wait_for_schema_agreement()).lower())
    cluster.shutdown()
    return 0


def write(host, port, keyspace, seconds, concurrency, outdir):
    cluster, session = connect(host, port)
    statement = session.prepare("INSERT INTO %s.t (k, v) VALUES (?, ?)" % keyspace)
    switch = os.path.join(outdir, "switch")
    lock = threading.Lock()
    state = {"next": 0, "running": 0, "parked": 0, "statement": statement, "switched": False}
    started = time.monotonic()
    acked, errors, timeline = [], [], {}
    done = threading.Event()
    state["deadline"] = time.monotonic() + float(seconds)
    stop = os.path.join(outdir, "stop")

    def maybe_switch():
        # Called without the lock: PREPARE is a round trip.
        if state["switched"] or not os.path.exists(switch):
            return
        state["switched"] = True
        text = "INSERT INTO %s.t (k, v) VALUES (?, ?) /* after the kill %d %d */" % (
            keyspace,
            os.getpid(),
            time.time_ns(),
        )
        state["statement"] = session.prepare(text)
        say("switched_at", "%.3f" % time.time())

    def issue():
        with lock:
            if time.monotonic() >= state["deadline"]:
                if state["running"] == 0:
                    done.set()
                return
            if state["next"] >= RATE * (time.monotonic() - started):
                # Ahead of the rate: the main loop issues it later.
                state["parked"] += 1
                return
            k = state["next"]
            state["next"] += 1
            state["running"] += 1
            statement = state["statement"]
        future = session.execute_async(statement, (k, "v%d" % k))
        future.add_callbacks(finished, failed, callback_args=(k,), errback_args=(k,))

    def finished(_rows, k):
        now = time.time()
        with lock:
            state["running"] -= 1
            acked.append(k)
            tenth = int(now * 10)
            timeline[tenth] = timeline.get(tenth, 0) + 1
        issue()

    def failed(error, k):
        with lock:
            state["running"] -= 1
            errors.append("%d %.3f %s: %s" % (k, time.time(), type(error).__name__, error))
        issue()

    for _ in range(int(concurrency)):
        issue()
    while not done.wait(0.01):
        with lock:
            release, state["parked"] = state["parked"], 0
        for _ in range(release):
            issue()
        try:
            maybe_switch()
        except Exception as e:  # the switch's PREPARE failing is an error like any other
            with lock:
                errors.append("prepare %.3f %s: %s" % (time.time(), type(e).__name__, e))
            state["switched"] = True
        if os.path.exists(stop):
            with lock:
                state["deadline"] = min(state["deadline"], time.monotonic())
                if state["running"] == 0:
                    done.set()
        if time.monotonic() > state["deadline"] + 60:
            say("error", "writes still running a minute after the deadline")
            break
    with open(os.path.join(outdir, "acked"), "w") as f:
        f.write("".join("%d\n" % k for k in acked))
    with open(os.path.join(outdir, "timeline"), "w") as f:
        f.write("".join("%d %d\n" % (t, timeline[t]) for t in sorted(timeline)))
    with open(os.path.join(outdir, "errors"), "w") as f:
        f.write("".join(e.replace("\n", " ") + "\n" for e in errors))
    say("attempted", state["next"])
    say("acked", len(acked))
    say("failed", len(errors))
    say("switched", str(state["switched"]).lower())
    say("unprepared", UNPREPARED["count"])
    cluster.shutdown()
    return 0


def verify(host, port, keyspace, outdir):
    cluster, session = connect(host, port, request_timeout=30)
    with open(os.path.join(outdir, "acked")) as f:
        keys = [int(line) for line in f if line.strip()]
    select = session.prepare("SELECT v FROM %s.t WHERE k = ?" % keyspace)
    lost, read_errors, examples = 0, 0, []
    results = execute_concurrent_with_args(
        session, select, [(k,) for k in keys], concurrency=64, raise_on_first_error=False
    )
    for k, (ok, result) in zip(keys, results):
        # A read that timed out (the cluster is busy catching up) is tried again, alone.
        for _ in range(5):
            if ok:
                break
            time.sleep(1)
            try:
                result, ok = session.execute(select, (k,)), True
            except Exception as e:
                result = e
        if not ok:
            read_errors += 1
            examples.append("%d: %s" % (k, result))
            continue
        rows = list(result)
        if len(rows) != 1 or rows[0].v != "v%d" % k:
            lost += 1
            examples.append("%d: %r" % (k, rows))
    say("checked", len(keys))
    say("lost", lost)
    say("read_errors", read_errors)
    say("examples", "; ".join(examples[:5]) or "none")
    say("unprepared", UNPREPARED["count"])
    cluster.shutdown()
    return 0


def ddl(host, port, keyspace, table):
    """A table made through the node, then written and read with prepared statements (which
    the node routes with the table's metadata, from its view of the schema)."""
    cluster, session = connect(host, port, request_timeout=60)
    session.execute("CREATE TABLE %s.%s (k int PRIMARY KEY, v text)" % (keyspace, table))
    say("schema_agreed", str(cluster.control_connection.wait_for_schema_agreement()).lower())
    insert = session.prepare("INSERT INTO %s.%s (k, v) VALUES (?, ?)" % (keyspace, table))
    select = session.prepare("SELECT v FROM %s.%s WHERE k = ?" % (keyspace, table))
    for k in range(20):
        session.execute(insert, (k, "v%d" % k))
    read = sum(1 for k in range(20) if session.execute(select, (k,)).one().v == "v%d" % k)
    say("read", read)
    cluster.shutdown()
    return 0


def probe(host, port, keyspace, seconds):
    """Connects while the cluster still has nodes, then reads a row of KEYSPACE every second
    for SECONDS (nodes disappear meanwhile): for each read, how long it took and what it
    returned."""
    cluster, session = connect(host, port, request_timeout=30)
    select = session.prepare("SELECT v FROM %s.t WHERE k = 0" % keyspace)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            session.execute(select)
            outcome = "ok"
        except Exception as e:
            outcome = "%s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        say("probe", "%.3f %.3f %s" % (time.time(), time.monotonic() - started, outcome))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    cluster.shutdown()
    return 0


def until_served(host, port, keyspace, seconds):
    """Reads a row of KEYSPACE at QUORUM through a fresh session until a read succeeds (at
    most SECONDS): after how long, and the last error before."""
    started = time.monotonic()
    last = "none"
    while time.monotonic() - started < float(seconds):
        try:
            cluster, session = connect(host, port)
            try:
                session.execute("SELECT v FROM %s.t WHERE k = 0" % keyspace)
                say("served_after", "%.3f" % (time.monotonic() - started))
                say("last_error", last)
                return 0
            finally:
                cluster.shutdown()
        except (NoHostAvailable, Exception) as e:
            last = "%s: %s" % (type(e).__name__, str(e).replace("\n", " "))
            time.sleep(1)
    say("served_after", "never")
    say("last_error", last)
    return 1


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[1], argv[2:]
    return {
        "setup": setup,
        "write": write,
        "verify": verify,
        "ddl": ddl,
        "probe": probe,
        "until_served": until_served,
    }[mode](*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
