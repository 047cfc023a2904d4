//! omq.rs (`omq-tokio`) used as its README recommends: a `Context::new()` (one OMQ-owned I/O
//! thread, the libzmq-like default) creating sockets with `ctx.socket(..)`, and, since this is a
//! plain `fn main`, `Context::block_on` as the executor for the benchmark loop.

use bytes::Bytes;
use omq_tokio::{Context, Message, Options, Socket, SocketType};

use crate::child::{self, AsyncEcho, AsyncRecv, AsyncSend, Res, Role, RoleArgs};

struct Omq(Socket);

impl AsyncSend for Omq {
    async fn send_body(&mut self, body: &Bytes) -> Res<()> {
        Ok(self.0.send(Message::single(body.clone())).await?)
    }
}

impl AsyncRecv for Omq {
    async fn recv_len(&mut self) -> Res<usize> {
        Ok(self.0.recv().await?.byte_len())
    }
}

impl AsyncEcho for Omq {
    async fn echo(&mut self) -> Res<()> {
        let msg = self.0.recv().await?;
        Ok(self.0.send(msg).await?)
    }
}

pub fn run(args: &RoleArgs) -> Res<()> {
    let ctx = Context::new();
    let inner = ctx.clone();
    let args = args.clone();
    ctx.block_on(async move {
        let ctx = inner;
        let socket = |t| Omq(ctx.socket(t, Options::default()));
        match args.role {
            Role::ThrRecv => {
                let mut pull = socket(SocketType::Pull);
                child::print_ready(&pull.0.bind(args.endpoint.as_str()).await?.to_string());
                child::thr_recv(&mut pull, &args).await
            }
            Role::ThrSend => {
                let mut push = socket(SocketType::Push);
                push.0.connect(args.endpoint.as_str()).await?;
                child::thr_send(&mut push, &args).await
            }
            Role::ThrInproc => {
                let mut pull = socket(SocketType::Pull);
                pull.0.bind(args.endpoint.as_str()).await?;
                let push = socket(SocketType::Push);
                push.0.connect(args.endpoint.as_str()).await?;
                child::thr_inproc(&mut pull, push, &args).await
            }
            Role::LatServer => {
                let mut rep = socket(SocketType::Rep);
                child::print_ready(&rep.0.bind(args.endpoint.as_str()).await?.to_string());
                child::lat_server(&mut rep, &args).await
            }
            Role::LatClient => {
                let mut req = socket(SocketType::Req);
                req.0.connect(args.endpoint.as_str()).await?;
                child::lat_client(&mut req, &args).await
            }
        }
    })
}
