//! The `zeromq` crate (zmq.rs) on the caller's tokio runtime, as in its examples. It has no
//! inproc transport.

use bytes::Bytes;
use zeromq::{
    PullSocket, PushSocket, RepSocket, ReqSocket, Socket, SocketRecv, SocketSend, ZmqMessage,
};

use crate::child::{self, AsyncEcho, AsyncRecv, AsyncSend, Res, Role, RoleArgs};

struct Push(PushSocket);
struct Pull(PullSocket);
struct Req(ReqSocket);
struct Rep(RepSocket);

fn body_len(msg: &ZmqMessage) -> usize {
    msg.iter().map(|f| f.len()).sum()
}

impl AsyncSend for Push {
    async fn send_body(&mut self, body: &Bytes) -> Res<()> {
        Ok(self.0.send(ZmqMessage::from(body.clone())).await?)
    }
}

impl AsyncRecv for Pull {
    async fn recv_len(&mut self) -> Res<usize> {
        Ok(body_len(&self.0.recv().await?))
    }
}

impl AsyncSend for Req {
    async fn send_body(&mut self, body: &Bytes) -> Res<()> {
        Ok(self.0.send(ZmqMessage::from(body.clone())).await?)
    }
}

impl AsyncRecv for Req {
    async fn recv_len(&mut self) -> Res<usize> {
        Ok(body_len(&self.0.recv().await?))
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
                let mut pull = PullSocket::new();
                child::print_ready(&pull.bind(&args.endpoint).await?.to_string());
                child::thr_recv(&mut Pull(pull), args).await
            }
            Role::ThrSend => {
                let mut push = PushSocket::new();
                push.connect(&args.endpoint).await?;
                child::thr_send(&mut Push(push), args).await
            }
            Role::ThrInproc => Err("the zeromq crate has no inproc transport".into()),
            Role::LatServer => {
                let mut rep = RepSocket::new();
                child::print_ready(&rep.bind(&args.endpoint).await?.to_string());
                child::lat_server(&mut Rep(rep), args).await
            }
            Role::LatClient => {
                let mut req = ReqSocket::new();
                req.connect(&args.endpoint).await?;
                child::lat_client(&mut Req(req), args).await
            }
        }
    })
}
