// A tier of Ringgate nodes as the Apache Cassandra Java driver 4.x sees it (run by
// coordinator/tests/real_tier.rs).
//
//   java -cp ... Tier <host> <port> <keyspace> <replication> <node the test stops: host:port>
//
// Joins through host:port, waits until it has connections to every node of the tier, and then
// talks with the test over stdin/stdout, one key=value line per fact:
//
// 1. `hosts`: the nodes the driver knows; `spread`: which node coordinated each of 300 prepared,
//    idempotent writes (`host:port:count`, `,`-joined).
// 2. `ready=stop`, with 8 writes kept in flight all along. The test stops a node and answers
//    `stopped`; the program goes on until 300 more writes have succeeded, then prints
//    `stop_errors` (writes that failed since `ready=stop`), `down_spread` and `ready=start`.
// 3. The test starts the node again and answers `started`; the program goes on until a write is
//    coordinated by it (60 s at most): `back`, `back_errors`.
// 4. `events`: what the driver's node state listener heard.
//
// The driver's own reconnection schedule is 10 minutes: only the tier's STATUS_CHANGE UP event
// brings the returned node back within the test. The driver's log goes to stderr.

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.metadata.Node;
import com.datastax.oss.driver.api.core.metadata.NodeState;
import com.datastax.oss.driver.api.core.metadata.NodeStateListener;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

public final class Tier {
  private static final int IN_FLIGHT = 8;

  private static void say(String key, Object value) {
    System.out.println(key + "=" + value);
    System.out.flush();
  }

  static String name(Node node) {
    InetSocketAddress addr = (InetSocketAddress) node.getEndPoint().resolve();
    return addr.getAddress().getHostAddress() + ":" + addr.getPort();
  }

  /** What the driver decides about nodes: added, up, down, removed. */
  static final class Listener implements NodeStateListener {
    final List<String> seen = Collections.synchronizedList(new ArrayList<>());

    @Override
    public void onAdd(Node node) {
      seen.add("add:" + name(node));
    }

    @Override
    public void onUp(Node node) {
      seen.add("up:" + name(node));
    }

    @Override
    public void onDown(Node node) {
      seen.add("down:" + name(node));
    }

    @Override
    public void onRemove(Node node) {
      seen.add("remove:" + name(node));
    }

    @Override
    public void close() {}
  }

  /** Keeps IN_FLIGHT idempotent writes going, counting who coordinated each and failures. */
  static final class Load {
    private final CqlSession session;
    private final PreparedStatement insert;
    private final AtomicInteger next = new AtomicInteger();
    private Map<String, Integer> byHost = new TreeMap<>();
    private List<String> errors = new ArrayList<>();
    private volatile boolean stopped;
    private final AtomicInteger running = new AtomicInteger();

    Load(CqlSession session, PreparedStatement insert) {
      this.session = session;
      this.insert = insert;
    }

    void start() {
      for (int i = 0; i < IN_FLIGHT; i++) {
        running.incrementAndGet();
        launch();
      }
    }

    private void launch() {
      if (stopped) {
        running.decrementAndGet();
        return;
      }
      int key = next.getAndIncrement();
      session
          .executeAsync(insert.bind(key % 1000, key))
          .whenComplete(
              (rs, error) -> {
                synchronized (this) {
                  if (error != null) {
                    errors.add(error.getClass().getSimpleName() + ": " + error.getMessage());
                  } else {
                    byHost.merge(name(rs.getExecutionInfo().getCoordinator()), 1, Integer::sum);
                  }
                }
                launch();
              });
    }

    synchronized int count() {
      return byHost.values().stream().mapToInt(Integer::intValue).sum();
    }

    synchronized int on(String node) {
      return byHost.getOrDefault(node, 0);
    }

    /** The counts and errors so far; both start again from nothing. */
    synchronized Map.Entry<Map<String, Integer>, List<String>> reset() {
      Map.Entry<Map<String, Integer>, List<String>> out = Map.entry(byHost, errors);
      byHost = new TreeMap<>();
      errors = new ArrayList<>();
      return out;
    }

    void stop() throws InterruptedException {
      stopped = true;
      waitUntil("the writes in flight", () -> running.get() == 0, 30);
    }
  }

  static boolean waitUntil(String what, BooleanSupplier condition, int seconds)
      throws InterruptedException {
    long deadline = System.nanoTime() + seconds * 1_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(50);
    }
    System.err.println("gave up waiting for " + what);
    return false;
  }

  static String spread(Map<String, Integer> byHost) {
    return byHost.entrySet().stream()
        .map(e -> e.getKey() + ":" + e.getValue())
        .collect(Collectors.joining(","));
  }

  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String keyspace = args[2];
    String replication = args[3];
    String stoppedNode = args[4];
    DriverConfigLoader config =
        DriverConfigLoader.programmaticBuilder()
            .withString(DefaultDriverOption.PROTOCOL_VERSION, "V5")
            .withString(DefaultDriverOption.REQUEST_CONSISTENCY, "LOCAL_QUORUM")
            .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, Duration.ofSeconds(30))
            .withBoolean(DefaultDriverOption.REQUEST_DEFAULT_IDEMPOTENCE, true)
            .withDuration(DefaultDriverOption.RECONNECTION_BASE_DELAY, Duration.ofMinutes(10))
            .withDuration(DefaultDriverOption.RECONNECTION_MAX_DELAY, Duration.ofMinutes(10))
            // Generous on a loaded machine: a late answer must not read as a fault of the node.
            .withDuration(DefaultDriverOption.CONNECTION_INIT_QUERY_TIMEOUT, Duration.ofSeconds(10))
            .withDuration(DefaultDriverOption.CONTROL_CONNECTION_TIMEOUT, Duration.ofSeconds(30))
            .withDuration(
                DefaultDriverOption.CONTROL_CONNECTION_AGREEMENT_TIMEOUT, Duration.ofSeconds(30))
            .withDuration(DefaultDriverOption.METADATA_SCHEMA_REQUEST_TIMEOUT, Duration.ofSeconds(30))
            .build();
    Listener listener = new Listener();
    BufferedReader stdin =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    try (CqlSession session =
        CqlSession.builder()
            .addContactPoint(new InetSocketAddress(host, port))
            .withLocalDatacenter("dc1")
            .withConfigLoader(config)
            .withNodeStateListener(listener)
            .build()) {
      session.execute(
          "CREATE KEYSPACE IF NOT EXISTS " + keyspace + " WITH replication = " + replication);
      session.execute("CREATE TABLE IF NOT EXISTS " + keyspace + ".kv (k int PRIMARY KEY, v int)");
      PreparedStatement insert =
          session.prepare("INSERT INTO " + keyspace + ".kv (k, v) VALUES (?, ?)");

      waitUntil(
          "connections to every node",
          () -> {
            var nodes = session.getMetadata().getNodes().values();
            return nodes.size() > 1
                && nodes.stream()
                    .allMatch(n -> n.getState() == NodeState.UP && n.getOpenConnections() > 0);
          },
          60);
      TreeSet<String> hosts = new TreeSet<>();
      for (Node node : session.getMetadata().getNodes().values()) {
        hosts.add(name(node));
      }
      say("hosts", String.join(",", hosts));

      Load load = new Load(session, insert);
      load.start();
      waitUntil("300 writes", () -> load.count() >= 300, 120);
      var before = load.reset();
      say("spread", spread(before.getKey()));
      say("spread_errors", before.getValue().size());

      load.reset();
      say("ready", "stop");
      if (!"stopped".equals(stdin.readLine())) {
        say("error", "expected stopped");
        System.exit(1);
      }
      List<String> caught = load.reset().getValue();
      waitUntil("300 writes after the stop", () -> load.count() >= 300, 120);
      var down = load.reset();
      List<String> errors = new ArrayList<>(caught);
      errors.addAll(down.getValue());
      say("stop_errors", errors.size());
      if (!errors.isEmpty()) {
        say("stop_error_kinds", String.join("; ", new TreeSet<>(errors)));
      }
      say("down_spread", spread(down.getKey()));

      say("ready", "start");
      if (!"started".equals(stdin.readLine())) {
        say("error", "expected started");
        System.exit(1);
      }
      boolean back = waitUntil("a write coordinated by " + stoppedNode, () -> load.on(stoppedNode) > 0, 60);
      load.stop();
      var after = load.reset();
      say("back", back);
      say("back_spread", spread(after.getKey()));
      say("back_errors", after.getValue().size());
      say("events", String.join(",", listener.seen));
    }
  }
}
