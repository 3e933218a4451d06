# The two commands of the README:
#   make demo   a real local Cassandra cluster and a short CQL session through a real driver
#   make test   every check and test, against that real cluster (what CI runs)
# and, for the inner loop, `make check`: formatting, lints, docs and every test that needs no
# cluster (unit, property, golden, the scripted state machines), in a few minutes.
.PHONY: demo test check cluster lint drivers unit auth gateway-auth tls cassandra-4.1 reliability soak fuzz-smoke bench bench-smoke bench-compare bench-compare-shotover down

SHELL := /bin/bash
FUZZ_SECONDS ?= 10
# The cluster instance of the `tls_*` tests (see scripts/cluster: 127.0.1K.x, beside the tests' own).
TLS_CLUSTER_ID ?= 2

demo:
	scripts/demo

# The real cluster the tests run against (reused when it is already up).
cluster:
	scripts/cluster up --nodes 3 --topology two-dc

test: cluster lint drivers unit bench-smoke gateway-auth fuzz-smoke tls cassandra-4.1 auth reliability

# The real drivers the node is tested with, from their registries (pinned; built once into
# ~/.cache/ringgate): Python driver and cqlsh, Node.js driver, gocql, Java driver.
drivers:
	scripts/python-env >/dev/null
	scripts/node-env >/dev/null
	scripts/go-env >/dev/null
	scripts/java-env >/dev/null

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# Everything that needs no Cassandra: tests whose binary is not named for the real cluster
# (real_*, disruptive_*, auth_*, tls_*, gateway_auth, reliability_*) — unit, property (proptest), golden-byte
# and scripted-node tests — then the doc tests.
NO_CLUSTER := not binary(/^(real_|disruptive_|auth_|tls_|gateway_auth|reliability_)/)
check: lint
	scripts/tools
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E '$(NO_CLUSTER)'
	cargo test --workspace --doc --locked

# Tests in `disruptive_*` files stop and start nodes: they run last, alone, one at a time.
unit:
	scripts/tools
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'not binary(/^disruptive_/) and not binary(/^auth_/) and not binary(/^gateway_auth/) and not binary(/^tls_/) and not binary(/^reliability_/)'
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^disruptive_/)' --test-threads 1
	cargo test --workspace --doc --locked

# A second real Cassandra version: one node of Cassandra 4.1 (on the JDK 11 of scripts/jdk11)
# as its own instance, beside the two-dc cluster; the Python driver scenario (every protocol
# version, and over a cluster spoken to in v4), sessions' keyspaces (v4 and v5) and the
# request API's core run against it through Ringgate. The instance is stopped afterwards.
CASSANDRA_41_INSTANCE ?= 4
CASSANDRA_41_TESTS := (binary(real_node_drivers) & test(/python_driver/)) | binary(real_node_keyspaces) \
	| (binary(real_request_api) & test(/^(every_cql_type_round_trips|paging_through_ten_thousand_rows_sees_each_once|batches_of_every_kind_mixing_queries_and_prepared_statements|lightweight_transactions_applied_and_not_applied|per_request_keyspaces_without_use|per_request_keyspaces_over_a_v4_cluster|timestamp_and_now_in_seconds_reach_the_node|use_is_refused_plain_or_prepared_and_shared_connections_keep_no_keyspace|the_cluster_is_the_one_the_environment_names)$$/))
cassandra-4.1:
	scripts/tools
	RINGGATE_CLUSTER_ID=$(CASSANDRA_41_INSTANCE) scripts/cluster up --cassandra 4.1 --nodes 1 --topology one-dc
	RINGGATE_CLUSTER_ID=$(CASSANDRA_41_INSTANCE) cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E '$(CASSANDRA_41_TESTS)'; \
	  rc=$$?; RINGGATE_CLUSTER_ID=$(CASSANDRA_41_INSTANCE) scripts/cluster down; exit $$rc

# Tests in `auth_*` files need a PasswordAuthenticator node: the cluster restarts as one.
auth:
	scripts/cluster up --nodes 1 --topology one-dc --auth
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^auth_/)'

# The gateway's auth tests need a PasswordAuthenticator cluster: their own one-node instance
# (RINGGATE_CLUSTER_ID, default 1: 127.0.11.1) runs beside the test cluster and stops after.
GATEWAY_AUTH_CLUSTER ?= 1
gateway-auth:
	RINGGATE_CLUSTER_ID=$(GATEWAY_AUTH_CLUSTER) scripts/cluster up --nodes 1 --topology one-dc --auth
	RINGGATE_CLUSTER_ID=$(GATEWAY_AUTH_CLUSTER) cargo nextest run -p ringgate-gateway --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^gateway_auth/)'; \
	  rc=$$?; RINGGATE_CLUSTER_ID=$(GATEWAY_AUTH_CLUSTER) scripts/cluster down; exit $$rc

# Tests in `tls_*` files need a cluster with client_encryption_options (TLS only, client
# certificates required): one node of their own instance, beside the tests' cluster. One at a
# time: the drain test pauses that node.
tls:
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) scripts/cluster up --nodes 1 --topology one-dc --tls
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^tls_/)' --test-threads 1; \
	  rc=$$?; RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) scripts/cluster down; exit $$rc

# Faults, hostile clients and a minute of sustained load (issue #14, RELIABILITY.md): three
# nodes in one datacenter as their own instance (127.0.13.x), after the auth phase has shrunk
# the tests' cluster to one node. `reliability_*` files kill, freeze and stop nodes: one test
# at a time. Then 1,000 clients for 60 s (scripts/soak). The instance is stopped afterwards.
RELIABILITY_CLUSTER ?= 3
reliability:
	scripts/tools
	RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/cluster up --nodes 3 --topology one-dc
	RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^reliability_/)' --test-threads 1 \
	  && RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/soak 60 1000; \
	  rc=$$?; RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/cluster down; exit $$rc

# Ten minutes of 1,000 clients through a node (not part of `make test`): RSS flat within
# ±10% after the warm-up, no error, sockets to the cluster O(nodes). On the reliability
# instance; the report goes to target/soak/soak-600.json.
soak:
	RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/cluster up --nodes 3 --topology one-dc
	RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/soak 600 1000; \
	  rc=$$?; RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/cluster down; exit $$rc

fuzz-smoke:
	@if ls fuzz/fuzz_targets/*.rs >/dev/null 2>&1; then \
	  scripts/tools --fuzz && scripts/fuzz $(FUZZ_SECONDS); \
	else echo "no fuzz targets yet"; fi

bench:
	cargo bench -p ringgate-benches

# A few seconds of the load harness (debug build): every workload through every target on
# the stub cluster, and reads and writes on the real one. No figure is asserted; a run with
# errors fails.
bench-smoke:
	cargo build --locked --quiet -p ringgate-benches --bin ringgate-bench -p ringgate-examples --bin ringgate
	$${CARGO_TARGET_DIR:-target}/debug/ringgate-bench compare --backend stub --targets direct,forwarder,ringgate,embedded \
	  --workloads read,write,mixed,batch,large,unprepared --concurrency 8 --rounds 1 --seconds 1 \
	  --warmup 1 --keys 100 --out target/bench-smoke/stub
	$${CARGO_TARGET_DIR:-target}/debug/ringgate-bench compare --backend real --setup --keys 100 \
	  --targets direct,forwarder,ringgate --workloads read,write --concurrency 4 --rounds 1 \
	  --seconds 1 --warmup 1 --out target/bench-smoke/real

# The node's cost against a node directly, a TCP forwarder and (with -shotover) shotover, on
# the stub and the real cluster, in alternated rounds; plots included (about 30 minutes).
bench-compare: cluster
	scripts/bench-compare

bench-compare-shotover: cluster
	scripts/bench-compare --shotover

down:
	scripts/cluster down
	RINGGATE_CLUSTER_ID=$(GATEWAY_AUTH_CLUSTER) scripts/cluster down
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) scripts/cluster down
	RINGGATE_CLUSTER_ID=$(CASSANDRA_41_INSTANCE) scripts/cluster down
	RINGGATE_CLUSTER_ID=$(RELIABILITY_CLUSTER) scripts/cluster down
