//! Pipeline: a PUSH ventilator spreads tasks over two PULL workers, which push results to a
//! PULL sink. Run: `cargo run -p sockwire --example pipeline`

use sockwire::{PullSocket, PushSocket};

#[tokio::main]
async fn main() -> sockwire::Result<()> {
    let ventilator = PushSocket::new()?;
    let tasks = ventilator.bind("tcp://127.0.0.1:0")?;
    let sink = PullSocket::new()?;
    let results = sink.bind("tcp://127.0.0.1:0")?;

    for worker in 1..=2 {
        let (tasks, results) = (tasks.clone(), results.clone());
        tokio::spawn(async move {
            let input = PullSocket::new()?;
            input.connect(&tasks)?;
            let output = PushSocket::new()?;
            output.connect(&results)?;
            while let Ok(task) = input.recv().await {
                let n: u64 = String::from_utf8_lossy(&task.frames()[0])
                    .parse()
                    .unwrap_or(0);
                output
                    .send(format!("worker {worker}: {n}^2 = {}", n * n))
                    .await?;
            }
            Ok::<(), sockwire::Error>(())
        });
    }

    for n in 1..=6u64 {
        ventilator.send(n.to_string()).await?;
    }
    for _ in 1..=6 {
        let result = sink.recv().await?;
        println!("{}", String::from_utf8_lossy(&result.frames()[0]));
    }
    Ok(())
}
