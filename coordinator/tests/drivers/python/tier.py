"""A tier of Ringgate nodes as the Python cassandra-driver sees it (run by tests/real_tier.rs).

    python tier.py <host> <port> <keyspace> <replication> <node the test stops: host:port>

Joins through the node at host:port, waits until it has connections to every Ringgate node the
node lists, and then talks with the test over stdin/stdout, one `key=value` line per fact:

1. `hosts`: the nodes the driver knows; `spread`: which node coordinated each of 300 prepared,
   idempotent writes (`host:port:count`, `,`-joined).
2. `ready=stop`, with 8 writes kept in flight all along. The test stops a node and answers
   `stopped`; the program goes on until 300 more writes have succeeded, then prints
   `stop_errors` (writes that failed since `ready=stop`: at most the ones in flight when the
   node stopped), `down_spread` (who coordinated those 300) and `ready=start`.
3. The test starts the node again and answers `started`; the program goes on until a write is
   coordinated by the returned node (60 s at most): `back` (`true` or `false`), `back_errors`.
4. `events`: what the driver's host listener heard (`down:host:port`, `up:host:port`, ...).

The driver's own reconnection schedule is 10 minutes: only the tier's STATUS_CHANGE UP event
can bring the returned node back within the test. The driver's log goes to stderr.
"""

import logging
import sys
import threading
import time
from collections import Counter

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import (
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    HostStateListener,
    TokenAwarePolicy,
)

IN_FLIGHT = 8


def say(key, value):
    print("%s=%s" % (key, value), flush=True)


def name(host):
    return "%s:%s" % (host.endpoint.address, host.endpoint.port)


class Listener(HostStateListener):
    """Records what the driver decides about hosts: down, up, added, removed."""

    def __init__(self):
        self.seen = []

    def on_up(self, host):
        self.seen.append("up:" + name(host))

    def on_down(self, host):
        self.seen.append("down:" + name(host))

    def on_add(self, host):
        self.seen.append("add:" + name(host))

    def on_remove(self, host):
        self.seen.append("remove:" + name(host))


class Load:
    """Keeps IN_FLIGHT idempotent writes going, counting who coordinated each and failures."""

    def __init__(self, session, insert):
        self.session = session
        self.insert = insert
        self.lock = threading.Lock()
        self.by_host = Counter()
        self.errors = []
        self.next_key = 0
        self.stopped = False
        self.idle = threading.Semaphore(0)

    def reset(self):
        with self.lock:
            by_host, errors = self.by_host, self.errors
            self.by_host, self.errors = Counter(), []
        return by_host, errors

    def start(self):
        for _ in range(IN_FLIGHT):
            self.launch()

    def launch(self):
        with self.lock:
            if self.stopped:
                self.idle.release()
                return
            key = self.next_key
            self.next_key += 1
        future = self.session.execute_async(self.insert, (key % 1000, key))
        future.add_callbacks(self.done, self.failed, callback_args=(future,), errback_args=(future,))

    def done(self, _rows, future):
        with self.lock:
            self.by_host[name(future.coordinator_host)] += 1
        self.launch()

    def failed(self, error, _future):
        with self.lock:
            self.errors.append("%s: %s" % (type(error).__name__, str(error).replace("\n", " ")))
        self.launch()

    def count(self):
        with self.lock:
            return sum(self.by_host.values())

    def stop(self):
        with self.lock:
            self.stopped = True
        for _ in range(IN_FLIGHT):
            self.idle.acquire(timeout=30)


def wait_until(what, condition, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    logging.warning("gave up waiting for %s", what)
    return False


def main():
    host, port, ks, replication, returned = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc="dc1")),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=30,
    )
    cluster = Cluster(
        [host],
        port=port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(600, max_attempts=None),
        connect_timeout=20,
        control_connection_timeout=20,
    )
    listener = Listener()
    cluster.register_listener(listener)
    session = cluster.connect()
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s" % (ks, replication))
    session.execute("CREATE TABLE IF NOT EXISTS %s.kv (k int PRIMARY KEY, v int)" % ks)
    insert = session.prepare("INSERT INTO %s.kv (k, v) VALUES (?, ?)" % ks)
    insert.is_idempotent = True

    def connected_to_all():
        hosts = cluster.metadata.all_hosts()
        pools = session.get_pool_state()
        return len(hosts) > 1 and all(
            h.is_up and pools.get(h, {}).get("open_count", 0) > 0 for h in hosts)

    wait_until("connections to every node", connected_to_all, 60)
    say("hosts", ",".join(sorted(name(h) for h in cluster.metadata.all_hosts())))

    load = Load(session, insert)
    load.start()
    wait_until("300 writes", lambda: load.count() >= 300, 120)
    by_host, errors = load.reset()
    say("spread", ",".join("%s:%d" % kv for kv in sorted(by_host.items())))
    say("spread_errors", len(errors))

    load.reset()
    say("ready", "stop")
    if sys.stdin.readline().strip() != "stopped":
        say("error", "expected stopped")
        return 1
    # What the stop caught, then 300 writes with the node gone.
    _, caught = load.reset()
    wait_until("300 writes after the stop", lambda: load.count() >= 300, 120)
    by_host, errors = load.reset()
    errors = caught + errors
    say("stop_errors", len(errors))
    if errors:
        say("stop_error_kinds", "; ".join(sorted(set(errors)))[:2000])
    say("down_spread", ",".join("%s:%d" % kv for kv in sorted(by_host.items())))

    say("ready", "start")
    if sys.stdin.readline().strip() != "started":
        say("error", "expected started")
        return 1
    back = wait_until("a write coordinated by %s" % returned,
                      lambda: load.by_host.get(returned, 0) > 0, 60)
    load.stop()
    by_host, errors = load.reset()
    say("back", str(back).lower())
    say("back_spread", ",".join("%s:%d" % kv for kv in sorted(by_host.items())))
    say("back_errors", len(errors))
    say("events", ",".join(listener.seen))
    cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
