//! ROUTER/DEALER: an asynchronous server that knows each client by its routing id.
//! Run: `cargo run -p sockwire --example router_dealer`

use sockwire::{Bytes, DealerSocket, Message, RouterSocket};

#[tokio::main]
async fn main() -> sockwire::Result<()> {
    let router = RouterSocket::new()?;
    let endpoint = router.bind("tcp://127.0.0.1:0")?;

    let mut clients = Vec::new();
    for name in ["alpha", "beta"] {
        let dealer = DealerSocket::new()?;
        dealer.set_routing_id(name)?;
        dealer.connect(&endpoint)?;
        dealer.send(format!("job from {name}")).await?;
        clients.push(dealer);
    }

    // The router sees [routing id, body] and answers by putting the id first.
    for _ in 0..2 {
        let msg = router.recv().await?;
        let (id, body) = (msg.frames()[0].clone(), msg.frames()[1].clone());
        println!(
            "router <- {:?}: {}",
            String::from_utf8_lossy(&id),
            String::from_utf8_lossy(&body)
        );
        router
            .send(Message::from_frames([id, Bytes::from("done")]))
            .await?;
    }
    for dealer in &clients {
        let reply = dealer.recv().await?;
        println!("dealer <- {}", String::from_utf8_lossy(&reply.frames()[0]));
    }
    Ok(())
}
