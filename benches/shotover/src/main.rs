//! `ringgate-shotover`: shotover's own runner, built with only its Cassandra support. It
//! takes shotover's flags (`--topology-file`, `--config-file`, `--core-threads`); the
//! comparison harness writes those files (a Cassandra source and a `CassandraSinkCluster`
//! in front of the cluster under test) and starts it.

fn main() {
    shotover::runner::Shotover::new().run_block()
}
