//! Request/reply: a REP server answers three requests from a REQ client.
//! Run: `cargo run -p sockwire --example req_rep`

use sockwire::{RepSocket, ReqSocket};

#[tokio::main]
async fn main() -> sockwire::Result<()> {
    let server = RepSocket::new()?;
    let endpoint = server.bind("tcp://127.0.0.1:0")?;
    tokio::spawn(async move {
        for _ in 0..3 {
            let request = server.recv().await?;
            let name = String::from_utf8_lossy(&request.frames()[0]).into_owned();
            server.send(format!("hello, {name}")).await?;
        }
        server.close().await;
        Ok::<(), sockwire::Error>(())
    });

    let client = ReqSocket::new()?;
    client.connect(&endpoint)?;
    for name in ["ada", "grace", "linus"] {
        client.send(name).await?;
        let reply = client.recv().await?;
        println!("{}", String::from_utf8_lossy(&reply.frames()[0]));
    }
    Ok(())
}
