# The two commands of the README:
#   make demo   a real local Cassandra cluster and a short CQL session through a real driver
#   make test   every check and test, against that real cluster (what CI runs)
.PHONY: demo test cluster lint drivers unit auth tls fuzz-smoke bench down load-compare

SHELL := /bin/bash
FUZZ_SECONDS ?= 10
# The cluster instance of the `tls_*` tests (see scripts/cluster: 127.0.1K.x, beside the tests' own).
TLS_CLUSTER_ID ?= 2

demo:
	scripts/demo

# The real cluster the tests run against (reused when it is already up).
cluster:
	scripts/cluster up --nodes 3 --topology two-dc

test: cluster lint drivers unit fuzz-smoke tls auth

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

# Tests in `disruptive_*` files stop and start nodes: they run last, alone, one at a time.
unit:
	scripts/tools
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'not binary(/^disruptive_/) and not binary(/^auth_/) and not binary(/^tls_/)'
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^disruptive_/)' --test-threads 1
	cargo test --workspace --doc --locked

# Tests in `auth_*` files need a PasswordAuthenticator node: the cluster restarts as one.
auth:
	scripts/cluster up --nodes 1 --topology one-dc --auth
	cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^auth_/)'

# Tests in `tls_*` files need a cluster with client_encryption_options (TLS only, client
# certificates required): one node of their own instance, beside the tests' cluster. One at a
# time: the drain test pauses that node.
tls:
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) scripts/cluster up --nodes 1 --topology one-dc --tls
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) cargo nextest run --workspace --locked --profile $${NEXTEST_PROFILE:-default} -E 'binary(/^tls_/)' --test-threads 1

fuzz-smoke:
	@if ls fuzz/fuzz_targets/*.rs >/dev/null 2>&1; then \
	  scripts/tools --fuzz && scripts/fuzz $(FUZZ_SECONDS); \
	else echo "no fuzz targets yet"; fi

bench:
	cargo bench -p ringgate-benches

# Requests through a ringgate node vs straight to a Cassandra node, alternated, as ratios.
load-compare: cluster
	scripts/load-compare

down:
	scripts/cluster down
	RINGGATE_CLUSTER_ID=$(TLS_CLUSTER_ID) scripts/cluster down
