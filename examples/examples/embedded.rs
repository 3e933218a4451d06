//! The smallest program that embeds Ringgate: join the cluster, prepare, execute, page
//! through the result, print. `cargo run -p ringgate-examples --example embedded [host:port]`.

use futures::StreamExt;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let contact = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9042".into());
    let mut config = CoordinatorConfig::new(vec![contact.parse()?]);
    config.local_dc = Some("dc1".into());
    let coordinator = Coordinator::connect(config).await?;

    let defaults = RequestOptions::default();
    coordinator
        .query(
            "CREATE KEYSPACE IF NOT EXISTS embedded WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}",
            (),
            &defaults,
        )
        .await?;
    coordinator
        .query(
            "CREATE TABLE IF NOT EXISTS embedded.squares (n int PRIMARY KEY, square bigint)",
            (),
            &defaults,
        )
        .await?;

    let insert = coordinator
        .prepare("INSERT INTO embedded.squares (n, square) VALUES (?, ?)")
        .await?;
    for n in 0..10 {
        let values = vec![CqlValue::Int(n), CqlValue::Bigint(i64::from(n * n))];
        coordinator.execute(&insert, values, &defaults).await?;
    }

    let select = coordinator
        .prepare("SELECT n, square FROM embedded.squares")
        .await?;
    let options = RequestOptions {
        page_size: Some(4),
        ..RequestOptions::default()
    };
    let mut pages = std::pin::pin!(coordinator.pages(&select, (), options));
    while let Some(page) = pages.next().await {
        let page = page?;
        for row in page.rows()? {
            let n: i32 = row.get(0)?;
            let square: i64 = row.get(1)?;
            println!("{n}² = {square}");
        }
    }
    Ok(())
}
