package main

// The TLS check run by gocql: `gocql-scenario tls <host> <port> <keyspace> <ca.pem> [<cert.pem>
// <key.pem>]` connects over TLS (the node's certificate checked against the CA and its
// address; the client certificate presented when given), writes and reads rows, and prints
// `tls=<version>`, `rows=<n>`, `v7=<value>`; a failure prints `error=<step>: ...` and exits 1.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}

func tlsMain(args []string) int {
	if len(args) != 4 && len(args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: gocql-scenario tls <host> <port> <keyspace> <ca.pem> [<cert.pem> <key.pem>]")
		return 2
	}
	host, keyspace, caPath := args[0], args[2], args[3]
	port, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad port:", args[1])
		return 2
	}
	say := func(key, value string) { fmt.Printf("%s=%s\n", key, value) }
	fail := func(step string, err error) int {
		say("error", step+": "+err.Error())
		return 1
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return fail("ca", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fail("ca", fmt.Errorf("no certificate in %s", caPath))
	}
	config := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	if len(args) == 6 {
		cert, err := tls.LoadX509KeyPair(args[4], args[5])
		if err != nil {
			return fail("client certificate", err)
		}
		config.Certificates = []tls.Certificate{cert}
	}
	cluster := gocql.NewCluster(host)
	cluster.Port = port
	cluster.ProtoVersion = 4
	cluster.Consistency = gocql.One
	cluster.Timeout = 20 * time.Second
	cluster.ConnectTimeout = 20 * time.Second
	cluster.SslOpts = &gocql.SslOptions{Config: config, EnableHostVerification: true}
	cluster.PoolConfig.HostSelectionPolicy = gocql.RoundRobinHostPolicy()
	session, err := cluster.CreateSession()
	if err != nil {
		return fail("connect", err)
	}
	defer session.Close()
	// The version the node's listener settles with this client's configuration (the driver
	// does not report its own connections').
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), config)
	if err != nil {
		return fail("tls dial", err)
	}
	say("tls", tlsVersionName(conn.ConnectionState().Version))
	conn.Close()
	for _, stmt := range []string{
		"CREATE KEYSPACE IF NOT EXISTS " + keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
		"CREATE TABLE IF NOT EXISTS " + keyspace + ".t (k int PRIMARY KEY, v text)",
	} {
		if err := session.Query(stmt).Exec(); err != nil {
			return fail("schema", err)
		}
	}
	for k := 0; k < 50; k++ {
		if err := session.Query("INSERT INTO "+keyspace+".t (k, v) VALUES (?, ?)", k, "v"+strconv.Itoa(k)).Exec(); err != nil {
			return fail("insert", err)
		}
	}
	rows := 0
	iter := session.Query("SELECT k FROM " + keyspace + ".t").Iter()
	var k int
	for iter.Scan(&k) {
		rows++
	}
	if err := iter.Close(); err != nil {
		return fail("select", err)
	}
	say("rows", strconv.Itoa(rows))
	var v string
	if err := session.Query("SELECT v FROM "+keyspace+".t WHERE k = ?", 7).Scan(&v); err != nil {
		return fail("select one", err)
	}
	say("v7", v)
	return 0
}
