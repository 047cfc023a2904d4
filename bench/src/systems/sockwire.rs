//! sockwire through its async API on a tokio runtime of the caller (the default `#[tokio::main]`
//! shape, or a current-thread runtime with `--rt current`).

use bytes::Bytes;
use sockwire::{Message, PullSocket, PushSocket, RepSocket, ReqSocket};

use crate::child::{self, AsyncEcho, AsyncRecv, AsyncSend, Res, Role, RoleArgs};

struct Push(PushSocket);
struct Pull(PullSocket);
struct Req(ReqSocket);
struct Rep(RepSocket);

impl AsyncSend for Push {
    async fn send_body(&mut self, body: &Bytes) -> Res<()> {
        Ok(self.0.send(Message::single(body.clone())).await?)
    }
}

impl AsyncRecv for Pull {
    async fn recv_len(&mut self) -> Res<usize> {
        Ok(self.0.recv().await?.size())
    }
}

impl AsyncSend for Req {
    async fn send_body(&mut self, body: &Bytes) -> Res<()> {
        Ok(self.0.send(Message::single(body.clone())).await?)
    }
}

impl AsyncRecv for Req {
    async fn recv_len(&mut self) -> Res<usize> {
        Ok(self.0.recv().await?.size())
    }
}

impl AsyncEcho for Rep {
    async fn echo(&mut self) -> Res<()> {
        let msg = self.0.recv().await?;
        Ok(self.0.send(msg).await?)
    }
}

pub fn run(args: &RoleArgs) -> Res<()> {
    let rt = args.rt.build()?;
    rt.block_on(async {
        match args.role {
            Role::ThrRecv => {
                let pull = PullSocket::new()?;
                child::print_ready(&pull.bind(&args.endpoint)?);
                child::thr_recv(&mut Pull(pull), args).await
            }
            Role::ThrSend => {
                let push = PushSocket::new()?;
                push.connect(&args.endpoint)?;
                child::thr_send(&mut Push(push), args).await
            }
            Role::ThrInproc => {
                let pull = PullSocket::new()?;
                pull.bind(&args.endpoint)?;
                let push = PushSocket::new()?;
                push.connect(&args.endpoint)?;
                child::thr_inproc(&mut Pull(pull), Push(push), args).await
            }
            Role::LatServer => {
                let rep = RepSocket::new()?;
                child::print_ready(&rep.bind(&args.endpoint)?);
                child::lat_server(&mut Rep(rep), args).await
            }
            Role::LatClient => {
                let req = ReqSocket::new()?;
                req.connect(&args.endpoint)?;
                child::lat_client(&mut Req(req), args).await
            }
        }
    })
}
