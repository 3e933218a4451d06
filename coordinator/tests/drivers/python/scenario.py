"""The driver scenario (tests/drivers/SCENARIO.md) run by the Python cassandra-driver.

    python scenario.py <host> <port> <3|4|5> <none|lz4|snappy> <keyspace>

Prints one `key=value` line per fact on stdout; the driver's log goes to stderr. Besides the
scenario's keys it prints a few of its own (`metadata_tables`, `metadata_types`,
`batch_simple`, `batch_warning`, `paged_small_rows`, `tracing`, `compressed_out`,
`compressed_in`): the driver's schema metadata read through the node, a simple statement in a
batch, the server's warning and tracing id passed on by the node, paging with a small page
size on a prepared statement, and how many bodies the driver compressed and decompressed.
"""

import datetime
import decimal
import logging
import os
import sys
import uuid
from collections import namedtuple

from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.concurrent import execute_concurrent_with_args
import cassandra.connection
from cassandra.segment import SegmentCodec
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from cassandra.util import Date, Duration, Time


class Step(Exception):
    """A scenario step that failed: printed as `error=<step>: <message>`."""


def say(key, value):
    print("%s=%s" % (key, value), flush=True)


class WarningLog(logging.Handler):
    """Keeps every record at warning level or above, for the `warnings` key."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.lines = []

    def emit(self, record):
        # One line, and no `;` but the ones that join the records.
        message = record.getMessage().replace("\n", " ").replace(";", ",")
        self.lines.append("%s %s: %s" % (record.levelname, record.name, message))


STEPS = logging.getLogger("scenario")

Addr = namedtuple("Addr", ["street", "zip"])

# The row of SCENARIO.md, as the driver binds it.
ROW = {
    "asci": "abc",
    "big": -9007199254740993,
    "blb": bytes.fromhex("00ff10"),
    "bool": True,
    "dt": datetime.date(2024, 2, 29),
    "dec": decimal.Decimal("12345678901234567890.123456789"),
    "dbl": 3.5,
    "flt": -0.25,
    "ip": "::1",
    "i": -42,
    "small": -300,
    "tiny": 7,
    "ts": datetime.datetime(2024, 2, 29, 12, 34, 56, 789000),
    "tm": Time("12:34:56.123456789"),
    "tu": uuid.UUID("e8a6dc40-2a4b-11ef-9c5c-0242ac120002"),
    "txt": "héllo ✓",
    "u": uuid.UUID("4a9a6c52-7ebf-4b0a-9d2b-1d9c1f0b2a11"),
    "vint": 123456789012345678901234567890,
    "dur": Duration(months=1, days=2, nanoseconds=3),
    "lst": [3, 1, 2],
    "st": {"a", "b"},
    "mp": {"x": 1, "y": 2},
    "tup": (5, "five"),
    "address": Addr("Main", 12345),
    "nested": {"n": [{1, 2}, {3}]},
}

# The keyspace's replication: SCENARIO.md's, or the environment's SCENARIO_REPLICATION for a
# cluster of another shape (one node of another Cassandra version, say).
REPLICATION = os.environ.get(
    "SCENARIO_REPLICATION", "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}"
)

SCHEMA = [
    "CREATE KEYSPACE {ks} WITH replication = " + REPLICATION.replace("{", "{{").replace("}", "}}"),
    "CREATE TYPE {ks}.addr (street text, zip int)",
    """CREATE TABLE {ks}.everything (
      k int PRIMARY KEY,
      asci ascii, big bigint, blb blob, bool boolean, dt date, dec decimal, dbl double,
      flt float, ip inet, i int, small smallint, tiny tinyint, ts timestamp, tm time,
      tu timeuuid, txt text, u uuid, vint varint, dur duration,
      lst list<int>, st set<text>, mp map<text, int>, tup tuple<int, text>,
      address frozen<addr>,
      nested map<text, frozen<list<frozen<set<int>>>>>
    )""",
    "CREATE TABLE {ks}.counts (k int PRIMARY KEY, c counter)",
    "CREATE TABLE {ks}.paged (p int, c int, v text, PRIMARY KEY (p, c))",
]


def plain(value):
    """The value with the driver's container and time types made comparable with the sent
    ones (sets, maps, tuples, dates and times as Python's own)."""
    if isinstance(value, Date):
        return value.date()
    if isinstance(value, Time):
        return value.nanosecond_time
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "items"):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "__iter__"):
        return frozenset(plain(v) for v in value)
    return value


# Bodies the driver compressed and decompressed, counted by wrapping its codecs: proof that
# compressed frames (v4) or segments (v5) really crossed the wire both ways.
CODEC_CALLS = {"compressed_out": 0, "compressed_in": 0}


def counting(key, function):
    def counted(data):
        CODEC_CALLS[key] += 1
        return function(data)

    return counted


def count_codec_calls():
    """Wraps the driver's codecs (before any connection takes them) to count their calls."""
    codecs = cassandra.connection.locally_supported_compressions
    for name, (compress, decompress) in list(codecs.items()):
        codecs[name] = (counting("compressed_out", compress), counting("compressed_in", decompress))
    if "lz4" in codecs:
        # v5 compresses segments with LZ4 through a codec of its own.
        cassandra.connection.segment_codec_lz4 = SegmentCodec(*codecs["lz4"])


def compression_in_use(cluster, session):
    """The compression every open connection really uses, from each connection's compressor."""
    codecs = cassandra.connection.locally_supported_compressions
    names = {fns[0]: name for name, fns in codecs.items()}
    conns = [cluster.control_connection._connection]
    conns += [pool._connection for pool in session.get_pools()]
    used = sorted({names.get(c.compressor, "unknown") if c.compressor else "none" for c in conns})
    return ",".join(used)


def run(host, port, version, compression, ks, log):
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc="dc1")),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=60,
    )
    cluster = Cluster(
        [host],
        port=port,
        protocol_version=version,
        compression=False if compression == "none" else compression,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=20,
        control_connection_timeout=20,
        max_schema_agreement_wait=30,
    )
    step = "connect"
    try:
        session = cluster.connect()
        say("protocol", cluster.protocol_version)
        say("compression", compression_in_use(cluster, session))

        step = "schema"
        STEPS.info("step %s", step)
        session.execute("DROP KEYSPACE IF EXISTS %s" % ks)
        agreed = True
        for ddl in SCHEMA:
            STEPS.info("%s", ddl.split("(")[0].format(ks=ks))
            agreed &= session.execute(ddl.format(ks=ks)).response_future.is_schema_agreed
        agreed &= cluster.control_connection.wait_for_schema_agreement()
        say("schema_agreed", str(agreed).lower())
        meta = cluster.metadata.keyspaces.get(ks)
        say("metadata_tables", ",".join(sorted(meta.tables)) if meta else "no keyspace")
        say("metadata_types", ",".join(sorted(meta.user_types)) if meta else "no keyspace")
        cluster.register_user_type(ks, "addr", Addr)

        step = "use"
        STEPS.info("step %s", step)
        session.execute("USE %s" % ks)
        say("use", "ok" if session.keyspace == ks else "keyspace is %s" % session.keyspace)

        step = "types"
        STEPS.info("step %s", step)
        columns = list(ROW)
        insert = session.prepare(
            "INSERT INTO everything (k, %s) VALUES (?, %s)"
            % (", ".join(columns), ", ".join("?" for _ in columns))
        )
        session.execute(insert, [1] + [ROW[c] for c in columns])
        select = session.prepare("SELECT %s FROM everything WHERE k = ?" % ", ".join(columns))
        got = session.execute(select, [1]).one()
        if got is None:
            raise Step("no row for k = 1")
        wrong = [
            "%s: sent %r got %r" % (c, ROW[c], getattr(got, c))
            for c in columns
            if plain(getattr(got, c)) != plain(ROW[c])
        ]
        say("types", "; ".join(wrong) if wrong else "ok")

        step = "nulls"
        STEPS.info("step %s", step)
        session.execute(session.prepare("INSERT INTO everything (k) VALUES (?)"), [2])
        got = session.execute(select, [2]).one()
        if got is None:
            raise Step("no row for k = 2")
        # The driver reads a null cell, empty collections included, as None.
        wrong = ["%s: got %r" % (c, getattr(got, c)) for c in columns if getattr(got, c) is not None]
        say("nulls", "; ".join(wrong) if wrong else "ok")

        step = "batch"
        STEPS.info("step %s", step)
        insert_txt = session.prepare("INSERT INTO everything (k, txt) VALUES (?, ?)")
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for k in (10, 11, 12):
            batch.add(insert_txt, (k, "batched %d" % k))
        batch.add(SimpleStatement("INSERT INTO everything (k, txt) VALUES (13, 'simple')"))
        session.execute(batch)
        count = session.execute("SELECT count(*) FROM everything WHERE k IN (10, 11, 12, 13)")
        say("batch", count.one()[0])
        # Cassandra warns about an aggregate over several partitions (v4 and later carry
        # warnings): the node must pass the warning on.
        say("batch_warning", "; ".join(count.response_future.warnings or []) or "none")
        say("batch_simple", session.execute("SELECT txt FROM everything WHERE k = 13").one().txt)

        step = "paged"
        STEPS.info("step %s", step)
        insert_paged = session.prepare("INSERT INTO paged (p, c, v) VALUES (?, ?, ?)")
        rows = [(p, c, "v%d.%d" % (p, c)) for p in range(10) for c in range(100)]
        for ok, result in execute_concurrent_with_args(session, insert_paged, rows, concurrency=32):
            if not ok:
                raise Step("insert: %s" % result)
        result = session.execute(SimpleStatement("SELECT p, c FROM paged", fetch_size=100))
        seen, pages = list(result.current_rows), 1
        while result.has_more_pages:
            result.fetch_next_page()
            seen.extend(result.current_rows)
            pages += 1
        say("paged_rows", len(seen))
        say("paged_distinct", len({(r.p, r.c) for r in seen}))
        say("paged_pages", pages)
        # The driver's own iteration over pages, on a prepared statement with a small page.
        select_paged = session.prepare("SELECT p, c, v FROM paged")
        select_paged.fetch_size = 17
        result = session.execute(select_paged)
        small = [r for r in result if r.v == "v%d.%d" % (r.p, r.c)]
        say("paged_small_rows", len(small))

        step = "tracing"
        traced = session.execute("SELECT txt FROM everything WHERE k = 13", trace=True)
        try:
            trace_ids = traced.response_future.get_query_trace_ids()
        except TypeError:  # the driver's way of saying that the response had no tracing id
            trace_ids = []
        say("tracing", "true" if trace_ids else "false")

        step = "lwt"
        STEPS.info("step %s", step)
        lwt = session.prepare("INSERT INTO everything (k, txt) VALUES (?, 'a') IF NOT EXISTS")
        say("lwt_first", str(session.execute(lwt, [100]).was_applied).lower())
        say("lwt_second", str(session.execute(lwt, [100]).was_applied).lower())

        step = "counter"
        STEPS.info("step %s", step)
        session.execute("UPDATE counts SET c = c + 5 WHERE k = 1")
        session.execute("UPDATE counts SET c = c + 7 WHERE k = 1")
        say("counter", session.execute("SELECT c FROM counts WHERE k = 1").one().c)

        step = "invalid"
        STEPS.info("step %s", step)
        try:
            session.execute("SELECT nope FROM everything")
            say("invalid", "no error")
        except InvalidRequest:
            say("invalid", "invalid")

        step = "local"
        STEPS.info("step %s", step)
        local = session.execute("SELECT rpc_address, rpc_port FROM system.local").one()
        say("local", "%s:%s" % (local.rpc_address, local.rpc_port))
        say("hosts", len(cluster.metadata.all_hosts()))
        for key, calls in CODEC_CALLS.items():
            say(key, calls)
    except Step as e:
        say("error", "%s: %s" % (step, e))
        return 1
    except Exception as e:  # noqa: BLE001 - any driver error ends the scenario at its step
        say("error", "%s: %s: %s" % (step, type(e).__name__, str(e).replace("\n", " ")))
        return 1
    finally:
        cluster.shutdown()
        say("warnings", "; ".join(log.lines) if log.lines else "none")
    return 0


def main():
    if len(sys.argv) != 6:
        print("usage: scenario.py <host> <port> <3|4|5> <none|lz4|snappy> <keyspace>",
              file=sys.stderr)
        return 2
    host, port, version, compression, ks = sys.argv[1:]
    log = WarningLog()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(log)
    count_codec_calls()
    return run(host, int(port), int(version), compression, ks, log)


if __name__ == "__main__":
    sys.exit(main())
