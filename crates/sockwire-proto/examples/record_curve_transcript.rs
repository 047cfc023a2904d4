//! Records two CURVE handshake transcripts between sockwire-proto and a real libzmq, as the
//! fixtures `tests/fixtures/curve_libzmq_client.txt` and `tests/fixtures/curve_libzmq_server.txt`
//! that `tests/curve_transcript.rs` checks (see `tests/fixtures/README.md`).
//!
//! ```text
//! cargo run -p sockwire-proto --example record_curve_transcript [OUT_DIR]
//! ```
//!
//! Each run is a loopback TCP connection between a libzmq DEALER (through the `zmq` crate,
//! linked to the system libzmq, which must have CURVE) and a plain `std::net::TcpStream`
//! driven by a [`sockwire_proto::Connection`] DEALER:
//!
//! - `curve_libzmq_client`: libzmq is the CURVE client, sockwire the server;
//! - `curve_libzmq_server`: sockwire is the CURVE client, libzmq the server.
//!
//! The permanent keys are the fixed RFC 32 / libzmq test key pairs. Transient keys are random,
//! but our side's transient secret is fixed (through the test hook
//! `sockwire_proto::curve::set_next_transient_key_for_testing`) to a freshly generated key that
//! is written to the fixture, so every box of the transcript can be opened afterwards. libzmq's
//! transient secret stays unknown. Every byte in both directions is recorded. After the
//! handshake sockwire sends one message, libzmq checks it and answers with three (a single
//! frame, a multipart one with an empty frame, and one over 255 bytes, so a long frame).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use sockwire_proto::curve::set_next_transient_key_for_testing;
use sockwire_proto::{
    Connection, ConnectionConfig, CookieKeyRing, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    Event, MechanismConfig, Message, Metadata, SocketType,
};

/// RFC 32's (and libzmq's tests') server key pair.
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
/// RFC 32's (and libzmq's tests') client key pair.
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_message(frames: &[Vec<u8>]) -> String {
    frames.iter().map(|f| hex(f)).collect::<Vec<_>>().join(",")
}

/// What sockwire sends after the handshake.
fn our_message() -> Vec<Vec<u8>> {
    vec![b"ping from sockwire".to_vec()]
}

/// What libzmq answers: one frame; three frames, one empty; one frame of 300 bytes.
fn libzmq_messages() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![b"hello from libzmq".to_vec()],
        vec![b"part one".to_vec(), Vec::new(), b"part three".to_vec()],
        vec![(0..300u32).map(|i| (i % 251) as u8).collect()],
    ]
}

/// libzmq's side, on its own thread: wait for our message, check it, send the answers.
fn libzmq_side(sock: zmq::Socket) {
    let got = sock.recv_multipart(0).expect("libzmq receives our message");
    assert_eq!(got, our_message(), "libzmq decrypted our MESSAGE boxes");
    for msg in libzmq_messages() {
        sock.send_multipart(msg, 0).expect("libzmq sends");
    }
    // Linger lets the messages out before the socket closes.
}

struct Recorded {
    sent: Vec<u8>,
    received: Vec<u8>,
    messages: Vec<Message>,
    peer_socket_type: SocketType,
}

/// Drives our side over `stream` until libzmq's three messages arrived.
fn our_side(mut stream: TcpStream, config: ConnectionConfig) -> Recorded {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let start = Instant::now();
    let mut conn = Connection::new(config, Instant::now());
    let (mut inbuf, mut out) = (BytesMut::new(), BytesMut::new());
    let mut rec = Recorded {
        sent: Vec::new(),
        received: Vec::new(),
        messages: Vec::new(),
        peer_socket_type: SocketType::Pair,
    };
    let mut buf = [0u8; 65536];
    while rec.messages.len() < libzmq_messages().len() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "recording timed out"
        );
        // Take every event; answer authentication requests (any CURVE key is fine here).
        loop {
            let mut again = false;
            while let Some(ev) = conn.poll_event() {
                match ev {
                    Event::AuthRequest(_) => {
                        conn.handle_auth_reply(200, Bytes::new(), Metadata::new(), Instant::now())
                            .expect("auth reply");
                        again = true;
                    }
                    Event::HandshakeComplete(peer) => {
                        rec.peer_socket_type = peer.socket_type;
                        conn.encode_message(&Message::from_frames(our_message()), &mut out);
                    }
                    Event::Message(m) => rec.messages.push(m),
                    other => panic!("unexpected event {other:?}"),
                }
            }
            if again {
                conn.handle_input(&mut inbuf, Instant::now())
                    .expect("our side");
            } else if conn.wants_input() {
                conn.resume_input(&mut inbuf, Instant::now())
                    .expect("our side");
            } else {
                break;
            }
        }
        conn.poll_transmit(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).unwrap();
            rec.sent.extend_from_slice(&out);
            out.clear();
        }
        if rec.messages.len() >= libzmq_messages().len() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("libzmq closed the connection"),
            Ok(n) => {
                rec.received.extend_from_slice(&buf[..n]);
                inbuf.extend_from_slice(&buf[..n]);
                conn.handle_input(&mut inbuf, Instant::now())
                    .expect("our side");
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    // Anything libzmq still sends (nothing is expected) is recorded too.
    std::thread::sleep(Duration::from_millis(100));
    stream.set_nonblocking(true).unwrap();
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        rec.received.extend_from_slice(&buf[..n]);
    }
    rec
}

fn write_fixture(
    path: &std::path::Path,
    scenario: &str,
    our_transient: &CurveSecretKey,
    rec: &Recorded,
) {
    let server = CurveKeyPair::from_secret(CurveSecretKey::from_z85(SERVER_SECRET).unwrap());
    let client = CurveKeyPair::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap());
    let (major, minor, patch) = zmq::version();
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut s = String::new();
    s.push_str("# CURVE transcript between sockwire-proto and libzmq, written by\n");
    s.push_str("# `cargo run -p sockwire-proto --example record_curve_transcript`.\n");
    s.push_str(
        "# See README.md. Keys in Z85, byte strings in hex, frames of a message joined by ','.\n",
    );
    s.push_str(&format!("scenario = {scenario}\n"));
    s.push_str(&format!("libzmq_version = {major}.{minor}.{patch}\n"));
    s.push_str(&format!("recorded_unix_time = {unix}\n"));
    s.push_str(&format!("server_secret = {}\n", server.secret.to_z85()));
    s.push_str(&format!("server_public = {}\n", server.public.to_z85()));
    s.push_str(&format!("client_secret = {}\n", client.secret.to_z85()));
    s.push_str(&format!("client_public = {}\n", client.public.to_z85()));
    s.push_str(&format!(
        "sockwire_transient_secret = {}\n",
        hex(our_transient.as_bytes())
    ));
    s.push_str(&format!(
        "sockwire_transient_public = {}\n",
        hex(our_transient.public_key().as_bytes())
    ));
    s.push_str("sockwire_socket_type = DEALER\n");
    s.push_str(&format!(
        "libzmq_socket_type = {}\n",
        rec.peer_socket_type.as_str()
    ));
    s.push_str(&format!(
        "sockwire_sent_message = {}\n",
        hex_message(&our_message())
    ));
    for (m, got) in libzmq_messages().iter().zip(&rec.messages) {
        let got: Vec<Vec<u8>> = got.iter().map(|f| f.to_vec()).collect();
        assert_eq!(&got, m, "sockwire decrypted libzmq's MESSAGE boxes");
        s.push_str(&format!("libzmq_sent_message = {}\n", hex_message(m)));
    }
    s.push_str(&format!("sockwire_to_libzmq = {}\n", hex(&rec.sent)));
    s.push_str(&format!("libzmq_to_sockwire = {}\n", hex(&rec.received)));
    std::fs::write(path, s).unwrap();
    println!(
        "{}: {} bytes sockwire -> libzmq, {} bytes libzmq -> sockwire",
        path.display(),
        rec.sent.len(),
        rec.received.len()
    );
}

fn libzmq_socket(ctx: &zmq::Context) -> zmq::Socket {
    let s = ctx.socket(zmq::DEALER).unwrap();
    s.set_linger(2000).unwrap();
    s.set_rcvtimeo(15_000).unwrap();
    s.set_sndtimeo(15_000).unwrap();
    s
}

/// (a) libzmq CURVE client -> sockwire CURVE server.
fn record_libzmq_client(dir: &std::path::Path, ctx: &zmq::Context) {
    let server = CurveKeyPair::from_secret(CurveSecretKey::from_z85(SERVER_SECRET).unwrap());
    let client = CurveKeyPair::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let z = libzmq_socket(ctx);
    z.set_curve_serverkey(server.public.as_bytes()).unwrap();
    z.set_curve_publickey(client.public.as_bytes()).unwrap();
    z.set_curve_secretkey(client.secret.as_bytes()).unwrap();
    z.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let peer = std::thread::spawn(move || libzmq_side(z));

    let (stream, _) = listener.accept().unwrap();
    // The server makes its transient key when it answers HELLO, on this thread.
    let transient = CurveSecretKey::generate();
    set_next_transient_key_for_testing(transient.clone());
    let mut config = ConnectionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::CurveServer {
        secret_key: server.secret.clone(),
        cookie_keys: CookieKeyRing::new(),
    };
    let rec = our_side(stream, config);
    peer.join().expect("libzmq side");
    write_fixture(
        &dir.join("curve_libzmq_client.txt"),
        "libzmq CURVE client (DEALER) -> sockwire CURVE server (DEALER)",
        &transient,
        &rec,
    );
}

/// (b) sockwire CURVE client -> libzmq CURVE server.
fn record_libzmq_server(dir: &std::path::Path, ctx: &zmq::Context) {
    let server = CurveKeyPair::from_secret(CurveSecretKey::from_z85(SERVER_SECRET).unwrap());
    let client = CurveKeyPair::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap());
    let z = libzmq_socket(ctx);
    z.set_curve_server(true).unwrap();
    z.set_curve_secretkey(server.secret.as_bytes()).unwrap();
    z.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = z.get_last_endpoint().unwrap().unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    let peer = std::thread::spawn(move || libzmq_side(z));

    let stream = TcpStream::connect(addr).unwrap();
    // The client makes its transient key in its constructor, inside Connection::new.
    let transient = CurveSecretKey::generate();
    set_next_transient_key_for_testing(transient.clone());
    let mut config = ConnectionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::CurveClient {
        server_public: CurvePublicKey::from_bytes(server.public.as_bytes()).unwrap(),
        keypair: client,
    };
    let rec = our_side(stream, config);
    peer.join().expect("libzmq side");
    write_fixture(
        &dir.join("curve_libzmq_server.txt"),
        "sockwire CURVE client (DEALER) -> libzmq CURVE server (DEALER)",
        &transient,
        &rec,
    );
}

fn main() {
    assert_eq!(
        zmq::has("curve"),
        Some(true),
        "the system libzmq must have CURVE"
    );
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    std::fs::create_dir_all(&dir).unwrap();
    let ctx = zmq::Context::new();
    record_libzmq_client(&dir, &ctx);
    record_libzmq_server(&dir, &ctx);
    let (major, minor, patch) = zmq::version();
    println!("recorded against libzmq {major}.{minor}.{patch}");
}
