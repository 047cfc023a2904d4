//! Publish/subscribe: one publisher, a subscriber that only wants "weather." topics.
//! Run: `cargo run -p sockwire --example pub_sub`

use std::time::Duration;

use sockwire::{PubSocket, SubSocket};

#[tokio::main]
async fn main() -> sockwire::Result<()> {
    let publisher = PubSocket::new()?;
    let endpoint = publisher.bind("tcp://127.0.0.1:0")?;

    let subscriber = SubSocket::new()?;
    subscriber.subscribe("weather.")?;
    subscriber.connect(&endpoint)?;

    // Subscriptions take a moment to reach the publisher (ZeroMQ's "slow joiner"): publish
    // until the subscriber hears something, then the real updates.
    tokio::spawn(async move {
        for n in 0u32.. {
            publisher.send(format!("weather.paris {n}C")).await?;
            publisher.send(format!("sports.rugby {n}-0")).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<(), sockwire::Error>(())
    });

    for _ in 0..5 {
        let update = subscriber.recv().await?;
        println!("{}", String::from_utf8_lossy(&update.frames()[0]));
    }
    Ok(())
}
