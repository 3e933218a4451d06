// The driver scenario (coordinator/tests/drivers/SCENARIO.md) run by gocql, the Go driver.
//
//	gocql-scenario <host> <port> <version> <compression> <keyspace>
//	gocql-scenario <host> <port> <version>:<compression>:<keyspace>...
//	gocql-scenario tls <host> <port> <keyspace> <ca.pem> [<cert.pem> <key.pem>]   (tls.go)
//
// The second form runs several configurations in one process and prefixes every key with
// `<keyspace>.`. Facts go to stdout as key=value lines; the driver's log goes to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/apache/cassandra-gocql-driver/v2/lz4"
	"github.com/apache/cassandra-gocql-driver/v2/snappy"
	"gopkg.in/inf.v0"
)

// config is one configuration of the scenario.
type config struct {
	version     int
	compression string
	keyspace    string
}

// stepError is a failed step: printed as error=<step>: <message>.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }

func fail(step string, err error) error { return &stepError{step: step, err: err} }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "tls" {
		os.Exit(tlsMain(os.Args[2:]))
	}
	args := os.Args[1:]
	if len(args) < 3 {
		usage()
	}
	host, port := args[0], args[1]
	portNum, err := strconv.Atoi(port)
	if err != nil {
		usage()
	}
	var configs []config
	multi := false
	if len(args) == 5 && !strings.Contains(args[2], ":") {
		v, err := strconv.Atoi(args[2])
		if err != nil {
			usage()
		}
		configs = append(configs, config{v, args[3], args[4]})
	} else {
		multi = true
		for _, triple := range args[2:] {
			parts := strings.Split(triple, ":")
			if len(parts) != 3 {
				usage()
			}
			v, err := strconv.Atoi(parts[0])
			if err != nil {
				usage()
			}
			configs = append(configs, config{v, parts[1], parts[2]})
		}
	}
	// The configurations run side by side (their keyspaces differ); each one's lines are
	// printed together, in the order given.
	results := make([][]string, len(configs))
	failures := make([]bool, len(configs))
	var wg sync.WaitGroup
	for n, cfg := range configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix := ""
			if multi {
				prefix = cfg.keyspace + "."
			}
			out := func(key, value string) {
				results[n] = append(results[n], prefix+key+"="+value)
			}
			if err := run(host, portNum, cfg, out); err != nil {
				out("error", err.Error())
				failures[n] = true
			}
		}()
	}
	wg.Wait()
	failed := false
	for n, lines := range results {
		for _, line := range lines {
			fmt.Println(line)
		}
		failed = failed || failures[n]
	}
	if failed {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gocql-scenario <host> <port> (<version> <compression> <keyspace> | <version>:<compression>:<keyspace>...)")
	os.Exit(2)
}

// logCapture is the sessions' logger: every line goes to stderr, and lines at warning level
// or above are kept for the `warnings` key.
type logCapture struct {
	tag      string
	mu       sync.Mutex
	warnings []string
}

func (l *logCapture) line(level, msg string, fields []gocql.LogField) string {
	var b strings.Builder
	b.WriteString(msg)
	for _, f := range fields {
		b.WriteString(" ")
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value.String())
	}
	text := b.String()
	fmt.Fprintf(os.Stderr, "[gocql %s %s] %s\n", l.tag, level, text)
	return text
}

func (l *logCapture) keep(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warnings = append(l.warnings, strings.ReplaceAll(text, "\n", " "))
}

func (l *logCapture) Error(msg string, fields ...gocql.LogField) {
	l.keep("ERROR " + l.line("ERROR", msg, fields))
}

func (l *logCapture) Warning(msg string, fields ...gocql.LogField) {
	l.keep("WARN " + l.line("WARN", msg, fields))
}

func (l *logCapture) Info(msg string, fields ...gocql.LogField) { l.line("INFO", msg, fields) }

func (l *logCapture) Debug(msg string, fields ...gocql.LogField) { l.line("DEBUG", msg, fields) }

func (l *logCapture) joined() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.warnings) == 0 {
		return "none"
	}
	return strings.Join(l.warnings, ";")
}

// frameVersions records the protocol version of every frame the driver read.
type frameVersions struct {
	mu   sync.Mutex
	seen map[byte]int
}

func (f *frameVersions) ObserveFrameHeader(_ context.Context, h gocql.ObservedFrameHeader) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[byte(h.Version)&0x7f]++
}

func (f *frameVersions) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var versions []string
	for v := range f.seen {
		versions = append(versions, strconv.Itoa(int(v)))
	}
	sort.Strings(versions)
	return strings.Join(versions, ",")
}

// pageCounter counts the requests the driver sent for one paged query (one per page).
type pageCounter struct{ pages atomic.Int64 }

func (p *pageCounter) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	if q.Err == nil {
		p.pages.Add(1)
	}
}

// observers are what one configuration's sessions report to.
type observers struct {
	logger  *logCapture
	frames  *frameVersions
	startup *startupSniffer
}

func newCluster(host string, port int, cfg config, obs observers) (*gocql.ClusterConfig, error) {
	cluster := gocql.NewCluster(host)
	cluster.Port = port
	cluster.ProtoVersion = cfg.version
	switch cfg.compression {
	case "none":
	case "lz4":
		cluster.Compressor = lz4.LZ4Compressor{}
	case "snappy":
		cluster.Compressor = snappy.SnappyCompressor{}
	default:
		return nil, fmt.Errorf("unknown compression %q", cfg.compression)
	}
	// Shuffling is chosen explicitly: without a choice the policy logs a warning that is
	// about its own defaults, not about the node.
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(
		gocql.DCAwareRoundRobinPolicy("dc1"), gocql.ShuffleReplicas())
	cluster.Consistency = gocql.LocalQuorum
	cluster.Timeout = 20 * time.Second
	cluster.ConnectTimeout = 20 * time.Second
	cluster.Logger = obs.logger
	cluster.FrameHeaderObserver = obs.frames
	cluster.Dialer = obs.startup
	return cluster, nil
}

func run(host string, port int, cfg config, out func(key, value string)) error {
	logger := &logCapture{tag: cfg.keyspace}
	frames := &frameVersions{seen: map[byte]int{}}
	obs := observers{logger: logger, frames: frames, startup: newStartupSniffer()}
	cluster, err := newCluster(host, port, cfg, obs)
	if err != nil {
		return fail("connect", err)
	}
	admin, err := cluster.CreateSession()
	if err != nil {
		return fail("connect", err)
	}
	defer admin.Close()
	out("protocol", frames.String())
	// What every connection's STARTUP asked for: gocql leaves COMPRESSION out when the node's
	// SUPPORTED does not list the configured compressor.
	out("compression", obs.startup.compressions())

	started := time.Now()
	if err := schema(admin, cfg.keyspace); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "[%s] schema took %v\n", cfg.keyspace, time.Since(started))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	agreed := admin.AwaitSchemaAgreement(ctx) == nil
	out("schema_agreed", strconv.FormatBool(agreed))
	out("metadata_tables", metadataTables(admin, cfg.keyspace))

	// gocql refuses `USE` (ErrUseStmt: a pooled session cannot switch keyspace per
	// connection); its way is a session whose every connection is opened in the keyspace.
	if err := admin.Query("USE " + cfg.keyspace).Exec(); !errors.Is(err, gocql.ErrUseStmt) {
		return fail("use", fmt.Errorf("expected gocql's ErrUseStmt, got %v", err))
	}
	// A policy serves one session only: the keyspace's session gets a configuration of its own.
	cluster, err = newCluster(host, port, cfg, obs)
	if err != nil {
		return fail("use", err)
	}
	cluster.Keyspace = cfg.keyspace
	session, err := cluster.CreateSession()
	if err != nil {
		return fail("use", err)
	}
	defer session.Close()
	var one int
	if err := session.Query("SELECT k FROM everything LIMIT 1").Scan(&one); err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return fail("use", err)
	}
	out("use", "ok")

	steps := []func(*gocql.Session, func(string, string)) error{
		types, nulls, batch, paged, lwt, counter, invalid,
	}
	for _, step := range steps {
		started := time.Now()
		if err := step(session, out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "[%s] step took %v\n", cfg.keyspace, time.Since(started))
	}

	var rpcAddress net.IP
	var rpcPort int
	if err := session.Query("SELECT rpc_address, rpc_port FROM system.local").Scan(&rpcAddress, &rpcPort); err != nil {
		return fail("local", err)
	}
	out("local", net.JoinHostPort(rpcAddress.String(), strconv.Itoa(rpcPort)))
	out("hosts", strconv.Itoa(len(session.GetHosts())))
	for _, h := range session.GetHosts() {
		fmt.Fprintf(os.Stderr, "[%s] host %s dc=%s rack=%s tokens=%v partitioner=%s\n",
			cfg.keyspace, h.ConnectAddressAndPort(), h.DataCenter(), h.Rack(), h.Tokens(), h.Partitioner())
	}
	// The frames of the whole run, in case a later connection spoke another version.
	out("protocol_all_frames", frames.String())
	out("compression_all_connections", obs.startup.compressions())
	out("warnings", logger.joined())
	return nil
}

// metadataTables waits (10 s at most) for the driver's schema metadata, which it refreshes
// on the node's schema events after a short debounce, to list the scenario's three tables,
// and returns the tables it lists, or the error that kept it from reading them.
func metadataTables(s *gocql.Session, ks string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		meta, err := s.KeyspaceMetadata(ks)
		listed := ""
		if err != nil {
			listed = "error " + err.Error()
		} else {
			var tables []string
			for name := range meta.Tables {
				tables = append(tables, name)
			}
			sort.Strings(tables)
			listed = strings.Join(tables, ",")
		}
		if listed == "counts,everything,paged" || time.Now().After(deadline) {
			return listed
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func schema(s *gocql.Session, ks string) error {
	statements := []string{
		"DROP KEYSPACE IF EXISTS " + ks,
		"CREATE KEYSPACE " + ks + " WITH replication = " +
			"{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
		"CREATE TYPE " + ks + ".addr (street text, zip int)",
		"CREATE TABLE " + ks + `.everything (
  k int PRIMARY KEY,
  asci ascii, big bigint, blb blob, bool boolean, dt date, dec decimal, dbl double,
  flt float, ip inet, i int, small smallint, tiny tinyint, ts timestamp, tm time,
  tu timeuuid, txt text, u uuid, vint varint, dur duration,
  lst list<int>, st set<text>, mp map<text, int>, tup tuple<int, text>,
  address frozen<addr>,
  nested map<text, frozen<list<frozen<set<int>>>>>
)`,
		"CREATE TABLE " + ks + ".counts (k int PRIMARY KEY, c counter)",
		"CREATE TABLE " + ks + ".paged (p int, c int, v text, PRIMARY KEY (p, c))",
	}
	for n, stmt := range statements {
		started := time.Now()
		err := s.Query(stmt).Exec()
		// Dropping a keyspace that holds data can take the cluster longer than the node's
		// request timeout (it flushes and snapshots); the drop goes on in the cluster, and
		// DROP ... IF EXISTS is safe to send again.
		for attempt := 1; n == 0 && err != nil && attempt < 4; attempt++ {
			fmt.Fprintf(os.Stderr, "[%s] %s failed (%v); again\n", ks, stmt, err)
			err = s.Query(stmt).Exec()
		}
		if err != nil {
			return fail("schema", fmt.Errorf("%s: %w", strings.SplitN(stmt, "(", 2)[0], err))
		}
		fmt.Fprintf(os.Stderr, "[%s] %s took %v\n", ks, strings.SplitN(stmt, "(", 2)[0], time.Since(started))
	}
	return nil
}

// addr is the `addr` user type.
type addr struct {
	Street string `cql:"street"`
	Zip    int32  `cql:"zip"`
}

// columns in table order (k first, then every other column of `everything`).
var columns = []string{
	"asci", "big", "blb", "bool", "dt", "dec", "dbl", "flt", "ip", "i", "small", "tiny", "ts",
	"tm", "tu", "txt", "u", "vint", "dur", "lst", "st", "mp", "tup", "address", "nested",
}

func mustUUID(s string) gocql.UUID {
	u, err := gocql.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

func types(s *gocql.Session, out func(string, string)) error {
	dec, ok := new(inf.Dec).SetString("12345678901234567890.123456789")
	if !ok {
		return fail("types", errors.New("decimal literal"))
	}
	vint, ok := new(big.Int).SetString("123456789012345678901234567890", 10)
	if !ok {
		return fail("types", errors.New("varint literal"))
	}
	sent := []any{
		"abc",
		int64(-9007199254740993),
		[]byte{0x00, 0xff, 0x10},
		true,
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		dec,
		3.5,
		float32(-0.25),
		net.ParseIP("::1"),
		int32(-42),
		int16(-300),
		int8(7),
		time.Date(2024, 2, 29, 12, 34, 56, 789_000_000, time.UTC),
		12*time.Hour + 34*time.Minute + 56*time.Second + 123456789*time.Nanosecond,
		mustUUID("e8a6dc40-2a4b-11ef-9c5c-0242ac120002"),
		"héllo ✓",
		mustUUID("4a9a6c52-7ebf-4b0a-9d2b-1d9c1f0b2a11"),
		vint,
		gocql.Duration{Months: 1, Days: 2, Nanoseconds: 3},
		[]int32{3, 1, 2},
		[]string{"a", "b"},
		map[string]int32{"x": 1, "y": 2},
		[]any{int32(5), "five"},
		addr{Street: "Main", Zip: 12345},
		map[string][][]int32{"n": {{1, 2}, {3}}},
	}
	// gocql binds a tuple column as one marker per element, `(?, ?)`: its prepared metadata
	// counts a tuple's elements as values, so one `?` bound to the whole tuple is refused
	// ("expected 27 values send got 26").
	markers := []string{"?"}
	values := []any{1}
	for n, column := range columns {
		if tuple, ok := sent[n].([]any); ok && column == "tup" {
			markers = append(markers, "(?, ?)")
			values = append(values, tuple...)
		} else {
			markers = append(markers, "?")
			values = append(values, sent[n])
		}
	}
	insert := "INSERT INTO everything (k, " + strings.Join(columns, ", ") + ") VALUES (" +
		strings.Join(markers, ", ") + ")"
	if err := s.Query(insert, values...).Exec(); err != nil {
		return fail("types", err)
	}

	var (
		asci   string
		big_   int64
		blb    []byte
		boolv  bool
		dt     time.Time
		decv   *inf.Dec
		dbl    float64
		flt    float32
		ip     net.IP
		i      int32
		small  int16
		tiny   int8
		ts     time.Time
		tm     time.Duration
		tu     gocql.UUID
		txt    string
		u      gocql.UUID
		vintv  *big.Int
		dur    gocql.Duration
		lst    []int32
		st     []string
		mp     map[string]int32
		tupI   int32
		tupS   string
		addrv  addr
		nested map[string][][]int32
	)
	// A tuple column scans into one destination per element.
	dests := []any{&asci, &big_, &blb, &boolv, &dt, &decv, &dbl, &flt, &ip, &i, &small, &tiny,
		&ts, &tm, &tu, &txt, &u, &vintv, &dur, &lst, &st, &mp, &tupI, &tupS, &addrv, &nested}
	sel := "SELECT " + strings.Join(columns, ", ") + " FROM everything WHERE k = ?"
	if err := s.Query(sel, 1).Scan(dests...); err != nil {
		return fail("types", err)
	}
	got := []any{asci, big_, blb, boolv, dt.UTC(), decv, dbl, flt, ip, i, small, tiny, ts.UTC(),
		tm, tu, txt, u, vintv, dur, lst, st, mp, []any{tupI, tupS}, addrv, nested}
	for n, column := range columns {
		if !same(sent[n], got[n]) {
			out("types", fmt.Sprintf("%s: sent %s got %s", column, show(sent[n]), show(got[n])))
			return nil
		}
	}
	out("types", "ok")
	return nil
}

// same compares a sent value with the one read back, by value.
func same(sent, got any) bool {
	switch s := sent.(type) {
	case *inf.Dec:
		g, ok := got.(*inf.Dec)
		return ok && g != nil && s.Cmp(g) == 0 && s.Scale() == g.Scale()
	case *big.Int:
		g, ok := got.(*big.Int)
		return ok && g != nil && s.Cmp(g) == 0
	case net.IP:
		g, ok := got.(net.IP)
		return ok && s.Equal(g)
	case time.Time:
		g, ok := got.(time.Time)
		return ok && s.Equal(g)
	}
	return reflect.DeepEqual(sent, got)
}

func show(v any) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("0x%x", x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%v", v)
}

// nullProbe records whether a column came back null (or, for a collection, empty).
type nullProbe struct{ data []byte }

func (p *nullProbe) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	p.data = data
	return nil
}

func nulls(s *gocql.Session, out func(string, string)) error {
	if err := s.Query("INSERT INTO everything (k) VALUES (?)", 2).Exec(); err != nil {
		return fail("nulls", err)
	}
	probes := make([]nullProbe, len(columns)+1) // the tuple column has two destinations
	dests := make([]any, len(probes))
	for n := range probes {
		dests[n] = &probes[n]
	}
	sel := "SELECT " + strings.Join(columns, ", ") + " FROM everything WHERE k = ?"
	if err := s.Query(sel, 2).Scan(dests...); err != nil {
		return fail("nulls", err)
	}
	for n, p := range probes {
		if len(p.data) != 0 {
			column := "tup"
			if n < 22 {
				column = columns[n]
			} else if n > 23 {
				column = columns[n-1]
			}
			out("nulls", fmt.Sprintf("%s: got 0x%x", column, p.data))
			return nil
		}
	}
	out("nulls", "ok")
	return nil
}

func batch(s *gocql.Session, out func(string, string)) error {
	b := s.Batch(gocql.LoggedBatch)
	for k := 10; k < 13; k++ {
		b.Query("INSERT INTO everything (k, txt, i) VALUES (?, ?, ?)", k, fmt.Sprintf("batched %d", k), k)
	}
	b.Query("INSERT INTO everything (k, txt) VALUES (13, 'simple')")
	if err := s.ExecuteBatch(b); err != nil {
		return fail("batch", err)
	}
	var count int64
	if err := s.Query("SELECT count(*) FROM everything WHERE k IN (10, 11, 12, 13)").Scan(&count); err != nil {
		return fail("batch", err)
	}
	out("batch", strconv.FormatInt(count, 10))
	return nil
}

func paged(s *gocql.Session, out func(string, string)) error {
	type row struct{ p, c int }
	work := make(chan row)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := s.Query("INSERT INTO paged (p, c, v) VALUES (?, ?, ?)", r.p, r.c, fmt.Sprintf("%d/%d", r.p, r.c)).Exec(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for p := 0; p < 10; p++ {
			for c := 0; c < 100; c++ {
				select {
				case work <- row{p, c}:
				case <-time.After(time.Minute):
					return
				}
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return fail("paged", err)
	default:
	}

	counter := &pageCounter{}
	iter := s.Query("SELECT p, c FROM paged").PageSize(100).Observer(counter).Iter()
	seen := map[row]bool{}
	rows := 0
	var p, c int
	for iter.Scan(&p, &c) {
		rows++
		seen[row{p, c}] = true
	}
	if err := iter.Close(); err != nil {
		return fail("paged", err)
	}
	out("paged_rows", strconv.Itoa(rows))
	out("paged_distinct", strconv.Itoa(len(seen)))
	out("paged_pages", strconv.FormatInt(counter.pages.Load(), 10))
	return nil
}

func lwt(s *gocql.Session, out func(string, string)) error {
	const stmt = "INSERT INTO everything (k, txt) VALUES (?, 'a') IF NOT EXISTS"
	for _, key := range []string{"lwt_first", "lwt_second"} {
		applied, err := s.Query(stmt, 100).MapScanCAS(map[string]any{})
		if err != nil {
			return fail(key, err)
		}
		out(key, strconv.FormatBool(applied))
	}
	return nil
}

func counter(s *gocql.Session, out func(string, string)) error {
	for _, by := range []int{5, 7} {
		if err := s.Query(fmt.Sprintf("UPDATE counts SET c = c + %d WHERE k = 1", by)).Exec(); err != nil {
			return fail("counter", err)
		}
	}
	var c int64
	if err := s.Query("SELECT c FROM counts WHERE k = ?", 1).Scan(&c); err != nil {
		return fail("counter", err)
	}
	out("counter", strconv.FormatInt(c, 10))
	return nil
}

func invalid(s *gocql.Session, out func(string, string)) error {
	err := s.Query("SELECT nope FROM everything").Exec()
	var inv *gocql.RequestErrInvalid
	switch {
	case err == nil:
		out("invalid", "no error")
	case errors.As(err, &inv):
		out("invalid", "invalid")
		fmt.Fprintf(os.Stderr, "invalid query error: %v\n", err)
	default:
		out("invalid", fmt.Sprintf("other error %T: %v", err, err))
	}
	return nil
}
