// The driver scenario (coordinator/tests/drivers/SCENARIO.md) for the Apache Cassandra Java
// driver 4.x, run against a Ringgate node.
//
//   java -cp ... Scenario <host> <port> <version> <compression> <keyspace>
//   java -cp ... Scenario <host> <port> <version>:<compression>:<keyspace>...
//
// The second form runs every configuration in this one JVM, each with its own CqlSession, and
// prefixes every key with "<keyspace>.". Facts go to stdout as key=value lines; the driver's
// log lines go to stderr, and those at WARN or above are also counted: the warnings the server
// sent with a response (which the driver logs at WARN) in `server_warnings`, every other one in
// `warnings`.

import com.datastax.oss.driver.api.core.CqlIdentifier;
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.ProtocolVersion;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.BatchStatement;
import com.datastax.oss.driver.api.core.cql.ColumnDefinition;
import com.datastax.oss.driver.api.core.cql.DefaultBatchType;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.ResultSet;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import com.datastax.oss.driver.api.core.data.CqlDuration;
import com.datastax.oss.driver.api.core.data.TupleValue;
import com.datastax.oss.driver.api.core.data.UdtValue;
import com.datastax.oss.driver.api.core.metadata.Node;
import com.datastax.oss.driver.api.core.metadata.TokenMap;
import com.datastax.oss.driver.api.core.metadata.schema.KeyspaceMetadata;
import com.datastax.oss.driver.api.core.servererrors.InvalidQueryException;
import com.datastax.oss.driver.api.core.type.TupleType;
import com.datastax.oss.driver.api.core.type.UserDefinedType;
import com.datastax.oss.driver.api.core.type.codec.TypeCodecs;
import com.datastax.oss.driver.api.core.type.reflect.GenericType;
import com.datastax.oss.driver.internal.core.context.InternalDriverContext;
import com.datastax.oss.protocol.internal.util.Bytes;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;

public final class Scenario {
  /** WARN-or-above log messages since the current configuration started. */
  private static final List<String> WARNINGS = new ArrayList<>();

  /** The distinct warnings servers sent with responses since the configuration started. */
  private static final Set<String> SERVER_WARNINGS = new LinkedHashSet<>();

  /** How the driver introduces the warnings a response carried. */
  private static final String SERVER_SIDE = " generated server side warning(s): ";

  private final String host;
  private final int port;
  private final int version;
  private final String compression;
  private final String keyspace;
  private final String prefix;
  private String step = "connect";

  private Scenario(
      String host, int port, int version, String compression, String keyspace, String prefix) {
    this.host = host;
    this.port = port;
    this.version = version;
    this.compression = compression;
    this.keyspace = keyspace;
    this.prefix = prefix;
  }

  public static void main(String[] args) {
    captureLogs();
    boolean single = args.length == 5 && !args[2].contains(":");
    if (args.length < 3 || (!single && args.length > 2 && !args[2].contains(":"))) {
      System.err.println(
          "usage: Scenario <host> <port> <version> <compression> <keyspace>\n"
              + "       Scenario <host> <port> <version>:<compression>:<keyspace>...");
      System.exit(2);
    }
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    boolean allRan = true;
    if (single) {
      allRan = new Scenario(host, port, Integer.parseInt(args[2]), args[3], args[4], "").run();
    } else {
      for (int i = 2; i < args.length; i++) {
        String[] parts = args[i].split(":", 3);
        if (parts.length != 3) {
          System.err.println("not <version>:<compression>:<keyspace>: " + args[i]);
          System.exit(2);
        }
        Scenario scenario =
            new Scenario(host, port, Integer.parseInt(parts[0]), parts[1], parts[2], parts[2] + ".");
        allRan &= scenario.run();
      }
    }
    System.exit(allRan ? 0 : 1);
  }

  /**
   * The driver logs through slf4j to java.util.logging: every record at INFO or above goes to
   * stderr, and the message of every one at WARNING (slf4j WARN) or above is kept.
   */
  private static void captureLogs() {
    Logger root = Logger.getLogger("");
    for (Handler handler : root.getHandlers()) {
      root.removeHandler(handler);
    }
    root.setLevel(Level.INFO);
    root.addHandler(
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            String message = oneLine(record.getMessage());
            if (record.getThrown() != null) {
              message += " (" + oneLine(record.getThrown().toString()) + ")";
            }
            System.err.println(
                "[" + record.getLevel() + "] " + record.getLoggerName() + ": " + message);
            if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
              int server = message.indexOf(SERVER_SIDE);
              synchronized (WARNINGS) {
                if (server >= 0) {
                  SERVER_WARNINGS.add(message.substring(server + SERVER_SIDE.length()));
                } else {
                  WARNINGS.add(message);
                }
              }
            }
          }

          @Override
          public void flush() {
            System.err.flush();
          }

          @Override
          public void close() {}
        });
  }

  private static String oneLine(String text) {
    return text == null ? "null" : text.replaceAll("\\s*[\\r\\n]+\\s*", " ");
  }

  private void say(String key, Object value) {
    System.out.println(prefix + key + "=" + value);
    System.out.flush();
  }

  /** Runs every step; false when one failed (after printing `error`). */
  private boolean run() {
    synchronized (WARNINGS) {
      WARNINGS.clear();
      SERVER_WARNINGS.clear();
    }
    boolean ran;
    CqlSession session = null;
    try {
      session = connect();
      steps(session);
      ran = true;
    } catch (Throwable e) {
      say("error", step + ": " + oneLine(e.toString()));
      ran = false;
    }
    // Counted before closing: a schema refresh cut short by the close ("Cluster is closed")
    // says nothing about the node. Such lines still go to stderr.
    synchronized (WARNINGS) {
      say("warnings", WARNINGS.isEmpty() ? "none" : String.join(";", WARNINGS));
      say(
          "server_warnings",
          SERVER_WARNINGS.isEmpty() ? "none" : String.join(";", SERVER_WARNINGS));
    }
    if (session != null) {
      session.close();
    }
    return ran;
  }

  private CqlSession connect() {
    DriverConfigLoader config =
        DriverConfigLoader.programmaticBuilder()
            .withString(DefaultDriverOption.PROTOCOL_VERSION, "V" + version)
            .withString(DefaultDriverOption.PROTOCOL_COMPRESSION, compression)
            // Both dc1 replicas acknowledge writes, so reads see them whichever one answers.
            .withString(DefaultDriverOption.REQUEST_CONSISTENCY, "LOCAL_QUORUM")
            .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, Duration.ofSeconds(30))
            .withDuration(DefaultDriverOption.CONNECTION_INIT_QUERY_TIMEOUT, Duration.ofSeconds(10))
            .withDuration(
                DefaultDriverOption.CONTROL_CONNECTION_AGREEMENT_TIMEOUT, Duration.ofSeconds(30))
            .withDuration(DefaultDriverOption.METADATA_SCHEMA_REQUEST_TIMEOUT, Duration.ofSeconds(30))
            // The scenario switches keyspaces with USE on purpose; the driver's advice against
            // that is about this program, not about the node, so it is not counted.
            .withBoolean(DefaultDriverOption.REQUEST_WARN_IF_SET_KEYSPACE, false)
            .build();
    return CqlSession.builder()
        .addContactPoint(new InetSocketAddress(host, port))
        // The data center the Ringgate node reports for itself.
        .withLocalDatacenter("dc1")
        .withConfigLoader(config)
        .build();
  }

  private void steps(CqlSession session) throws Exception {
    step = "protocol";
    ProtocolVersion negotiated = session.getContext().getProtocolVersion();
    say("protocol", negotiated.getCode());
    String algorithm = ((InternalDriverContext) session.getContext()).getCompressor().algorithm();
    say("compression", algorithm == null ? "none" : algorithm);

    step = "schema";
    boolean agreed = true;
    for (String ddl :
        List.of(
            "DROP KEYSPACE IF EXISTS " + keyspace,
            "CREATE KEYSPACE " + keyspace + " WITH replication = "
                + "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            "CREATE TYPE " + keyspace + ".addr (street text, zip int)",
            "CREATE TABLE " + keyspace + ".everything (k int PRIMARY KEY, asci ascii, big bigint, "
                + "blb blob, bool boolean, dt date, dec decimal, dbl double, flt float, ip inet, "
                + "i int, small smallint, tiny tinyint, ts timestamp, tm time, tu timeuuid, "
                + "txt text, u uuid, vint varint, dur duration, lst list<int>, st set<text>, "
                + "mp map<text, int>, tup tuple<int, text>, address frozen<addr>, "
                + "nested map<text, frozen<list<frozen<set<int>>>>>)",
            "CREATE TABLE " + keyspace + ".counts (k int PRIMARY KEY, c counter)",
            "CREATE TABLE " + keyspace + ".paged (p int, c int, v text, PRIMARY KEY (p, c))")) {
      agreed &= session.execute(ddl).getExecutionInfo().isSchemaInAgreement();
    }
    agreed &= session.checkSchemaAgreement();
    say("schema_agreed", agreed);
    // The tables the driver's metadata (read from system_schema through the node) holds.
    Optional<KeyspaceMetadata> meta = session.getMetadata().getKeyspace(keyspace);
    say(
        "metadata_tables",
        meta.map(
                ks ->
                    ks.getTables().keySet().stream()
                        .map(CqlIdentifier::asInternal)
                        .sorted()
                        .collect(Collectors.joining(",")))
            .orElse("no keyspace"));

    step = "use";
    session.execute("USE " + keyspace);
    Optional<CqlIdentifier> current = session.getKeyspace();
    say(
        "use",
        current.map(CqlIdentifier::asInternal).orElse("").equals(keyspace)
            ? "ok"
            : "session keyspace is " + current);

    step = "types";
    say("types", types(session));

    step = "nulls";
    say("nulls", nulls(session));

    step = "batch";
    PreparedStatement insertText =
        session.prepare("INSERT INTO everything (k, txt) VALUES (?, ?)");
    session.execute(
        BatchStatement.newInstance(
            DefaultBatchType.LOGGED,
            insertText.bind(10, "b10"),
            insertText.bind(11, "b11"),
            insertText.bind(12, "b12"),
            SimpleStatement.newInstance("INSERT INTO everything (k, txt) VALUES (13, 'b13')")));
    Row count =
        session.execute("SELECT count(*) FROM everything WHERE k IN (10, 11, 12, 13)").one();
    say("batch", count == null ? "no row" : count.getLong(0));

    step = "paged";
    paged(session);

    step = "lwt";
    PreparedStatement lwt =
        session.prepare("INSERT INTO everything (k, txt) VALUES (?, 'a') IF NOT EXISTS");
    say("lwt_first", session.execute(lwt.bind(100)).wasApplied());
    say("lwt_second", session.execute(lwt.bind(100)).wasApplied());

    step = "counter";
    session.execute("UPDATE counts SET c = c + 5 WHERE k = 1");
    session.execute("UPDATE counts SET c = c + 7 WHERE k = 1");
    Row counter = session.execute("SELECT c FROM counts WHERE k = 1").one();
    say("counter", counter == null ? "no row" : counter.getLong("c"));

    step = "invalid";
    String invalid;
    try {
      session.execute("SELECT nope FROM everything");
      invalid = "no error";
    } catch (InvalidQueryException e) {
      invalid = "invalid";
    } catch (RuntimeException e) {
      invalid = oneLine(e.toString());
    }
    say("invalid", invalid);

    step = "local";
    Row local = session.execute("SELECT rpc_address, rpc_port FROM system.local").one();
    say(
        "local",
        local == null
            ? "no row"
            : local.getInetAddress("rpc_address").getHostAddress() + ":" + local.getInt("rpc_port"));

    step = "hosts";
    Map<UUID, Node> nodes = session.getMetadata().getNodes();
    say("hosts", nodes.size());

    step = "token_map";
    Optional<TokenMap> tokenMap = session.getMetadata().getTokenMap();
    say("token_map", tokenMap.isPresent());
    if (tokenMap.isPresent()) {
      ByteBuffer key = TypeCodecs.INT.encode(1, negotiated);
      say("replicas", tokenMap.get().getReplicas(keyspace, key).size());
    }
  }

  /** The row of every type, written by a prepared INSERT and read by a prepared SELECT. */
  private static String types(CqlSession session) throws Exception {
    Map<String, Object> sent = new LinkedHashMap<>();
    sent.put("asci", "abc");
    sent.put("big", -9007199254740993L);
    sent.put("blb", ByteBuffer.wrap(new byte[] {0x00, (byte) 0xff, 0x10}));
    sent.put("bool", true);
    sent.put("dt", LocalDate.of(2024, 2, 29));
    sent.put("dec", new BigDecimal("12345678901234567890.123456789"));
    sent.put("dbl", 3.5d);
    sent.put("flt", -0.25f);
    sent.put("ip", InetAddress.getByName("::1"));
    sent.put("i", -42);
    sent.put("small", (short) -300);
    sent.put("tiny", (byte) 7);
    sent.put("ts", Instant.parse("2024-02-29T12:34:56.789Z"));
    sent.put("tm", LocalTime.parse("12:34:56.123456789"));
    sent.put("tu", UUID.fromString("e8a6dc40-2a4b-11ef-9c5c-0242ac120002"));
    sent.put("txt", "héllo ✓");
    sent.put("u", UUID.fromString("4a9a6c52-7ebf-4b0a-9d2b-1d9c1f0b2a11"));
    sent.put("vint", new BigInteger("123456789012345678901234567890"));
    sent.put("dur", CqlDuration.newInstance(1, 2, 3));
    sent.put("lst", List.of(3, 1, 2));
    sent.put("st", Set.of("a", "b"));
    sent.put("mp", Map.of("x", 1, "y", 2));
    sent.put("tup", List.of(5, "five"));
    sent.put("address", List.of("Main", 12345));
    sent.put("nested", Map.of("n", List.of(Set.of(1, 2), Set.of(3))));

    String columns = String.join(", ", sent.keySet());
    String markers = sent.keySet().stream().map(c -> "?").collect(Collectors.joining(", "));
    PreparedStatement insert =
        session.prepare(
            "INSERT INTO everything (k, " + columns + ") VALUES (?, " + markers + ")");
    TupleType tupleType = (TupleType) insert.getVariableDefinitions().get("tup").getType();
    UserDefinedType addrType =
        (UserDefinedType) insert.getVariableDefinitions().get("address").getType();
    List<Object> values = new ArrayList<>();
    values.add(1);
    for (Map.Entry<String, Object> column : sent.entrySet()) {
      Object value = column.getValue();
      if (column.getKey().equals("tup")) {
        value = tupleType.newValue(((List<?>) value).toArray());
      } else if (column.getKey().equals("address")) {
        value = addrType.newValue(((List<?>) value).toArray());
      }
      values.add(value);
    }
    session.execute(insert.bind(values.toArray()));

    PreparedStatement select = session.prepare("SELECT * FROM everything WHERE k = ?");
    Row row = session.execute(select.bind(1)).one();
    if (row == null) {
      return "no row for k = 1";
    }
    Map<String, Function<Row, Object>> read = new LinkedHashMap<>();
    read.put("asci", r -> r.getString("asci"));
    read.put("big", r -> r.getLong("big"));
    read.put("blb", r -> r.getByteBuffer("blb"));
    read.put("bool", r -> r.getBoolean("bool"));
    read.put("dt", r -> r.getLocalDate("dt"));
    read.put("dec", r -> r.getBigDecimal("dec"));
    read.put("dbl", r -> r.getDouble("dbl"));
    read.put("flt", r -> r.getFloat("flt"));
    read.put("ip", r -> r.getInetAddress("ip"));
    read.put("i", r -> r.getInt("i"));
    read.put("small", r -> r.getShort("small"));
    read.put("tiny", r -> r.getByte("tiny"));
    read.put("ts", r -> r.getInstant("ts"));
    read.put("tm", r -> r.getLocalTime("tm"));
    read.put("tu", r -> r.getUuid("tu"));
    read.put("txt", r -> r.getString("txt"));
    read.put("u", r -> r.getUuid("u"));
    read.put("vint", r -> r.getBigInteger("vint"));
    read.put("dur", r -> r.getCqlDuration("dur"));
    read.put("lst", r -> r.getList("lst", Integer.class));
    read.put("st", r -> r.getSet("st", String.class));
    read.put("mp", r -> r.getMap("mp", String.class, Integer.class));
    read.put(
        "tup",
        r -> {
          TupleValue t = r.getTupleValue("tup");
          return t == null ? null : List.of(t.getInt(0), t.getString(1));
        });
    read.put(
        "address",
        r -> {
          UdtValue a = r.getUdtValue("address");
          return a == null ? null : List.of(a.getString("street"), a.getInt("zip"));
        });
    read.put(
        "nested",
        r ->
            r.get(
                "nested",
                GenericType.mapOf(
                    GenericType.STRING, GenericType.listOf(GenericType.setOf(Integer.class)))));

    List<String> mismatches = new ArrayList<>();
    for (Map.Entry<String, Object> column : sent.entrySet()) {
      Object got = read.get(column.getKey()).apply(row);
      if (!Objects.equals(column.getValue(), got)) {
        mismatches.add(
            column.getKey() + ": sent " + show(column.getValue()) + " got " + show(got));
      }
    }
    return mismatches.isEmpty() ? "ok" : String.join("; ", mismatches);
  }

  private static String show(Object value) {
    return value instanceof ByteBuffer ? Bytes.toHexString((ByteBuffer) value) : String.valueOf(value);
  }

  /** A row with only its key set reads back with every other column null. */
  private static String nulls(CqlSession session) {
    session.execute(session.prepare("INSERT INTO everything (k) VALUES (?)").bind(2));
    Row row = session.execute(session.prepare("SELECT * FROM everything WHERE k = ?").bind(2)).one();
    if (row == null) {
      return "no row for k = 2";
    }
    List<String> set = new ArrayList<>();
    for (ColumnDefinition column : row.getColumnDefinitions()) {
      String name = column.getName().asInternal();
      if (!name.equals("k") && !row.isNull(name)) {
        set.add(name + " is " + show(row.getObject(name)));
      }
    }
    return set.isEmpty() ? "ok" : String.join("; ", set);
  }

  /** 1,000 rows written, then read back in pages of 100. */
  private void paged(CqlSession session) throws Exception {
    PreparedStatement insert = session.prepare("INSERT INTO paged (p, c, v) VALUES (?, ?, ?)");
    List<CompletionStage<AsyncResultSet>> inFlight = new ArrayList<>();
    for (int p = 0; p < 10; p++) {
      for (int c = 0; c < 100; c++) {
        inFlight.add(session.executeAsync(insert.bind(p, c, "v" + p + "." + c)));
      }
      // At most 100 writes in flight at a time.
      for (CompletionStage<AsyncResultSet> write : inFlight) {
        write.toCompletableFuture().get();
      }
      inFlight.clear();
    }
    ResultSet rows =
        session.execute(SimpleStatement.newInstance("SELECT p, c FROM paged").setPageSize(100));
    int count = 0;
    Set<List<Integer>> distinct = new HashSet<>();
    for (Row row : rows) {
      count++;
      distinct.add(List.of(row.getInt("p"), row.getInt("c")));
    }
    say("paged_rows", count);
    say("paged_distinct", distinct.size());
    say("paged_pages", rows.getExecutionInfos().size());
  }
}
