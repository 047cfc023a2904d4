//! `sockwire raw` against plain std sockets on the other end: TCP over IPv4 and IPv6, UDP in
//! both modes, IPC (AF_UNIX), `--keep-open`, and a refused connection.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{assert_fails, run, Proc};

const T: Duration = Duration::from_secs(10);

fn read_exact_line(s: &mut impl Read) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while out.last() != Some(&b'\n') {
        let n = s.read(&mut b).expect("read from sockwire");
        assert!(n > 0, "sockwire closed early; got {out:?}");
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn raw_tcp_v4_listen_with_std_client() {
    let mut sw = Proc::spawn_piped(&["raw", "--listen", "tcp://127.0.0.1:0"]);
    let ep = sw.bound();
    let mut client = TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
    client.set_read_timeout(Some(T)).unwrap();
    client.write_all(b"from std\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("from std"));
    sw.write(b"from sockwire\n");
    assert_eq!(read_exact_line(&mut client), "from sockwire\n");
    client.shutdown(Shutdown::Both).unwrap();
    let done = sw.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
}

#[test]
fn raw_tcp_v6_connect_to_std_listener() {
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ep = format!("tcp://[::1]:{port}");
    let mut sw = Proc::spawn_piped(&["raw", "--connect", &ep]);
    sw.write(b"hello over v6\n");
    sw.close_stdin();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    // stdin ended, so sockwire shuts down its sending side: read to the end.
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello over v6\n");
    conn.write_all(b"bye\n").unwrap();
    drop(conn);
    let done = sw.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(done.stdout, "bye\n");
}

#[test]
fn raw_udp_connect_and_listen_with_std_socket() {
    // sockwire --connect: each stdin line one datagram; replies printed.
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(T)).unwrap();
    let ep = format!("udp://{}", peer.local_addr().unwrap());
    let mut sw = Proc::spawn_piped(&["raw", "--connect", &ep]);
    sw.write(b"one\ntwo\n");
    let mut buf = [0u8; 100];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"one");
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"two");
    peer.send_to(b"world", from).unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("world"));
    sw.signal("TERM");
    assert_eq!(sw.finish().code(), 0);

    // sockwire --listen: prints datagrams, answers the peer it last heard from.
    let mut sw = Proc::spawn_piped(&["raw", "--listen", "udp://127.0.0.1:0"]);
    let ep = sw.bound();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(T)).unwrap();
    client.connect(ep.strip_prefix("udp://").unwrap()).unwrap();
    client.send(b"ping\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("ping"));
    sw.write(b"pong\n");
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    sw.signal("INT");
    assert_eq!(sw.finish().code(), 0);
}

#[test]
fn raw_ipc_listen_with_std_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let ep = format!("ipc://{}", path.display());
    let mut sw = Proc::spawn_piped(&["raw", "--listen", &ep]);
    let deadline = Instant::now() + T;
    let mut client = loop {
        match UnixStream::connect(&path) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("sockwire never listened on {ep}: {e}"),
        }
    };
    client.set_read_timeout(Some(T)).unwrap();
    client.write_all(b"unix hello\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("unix hello"));
    sw.write(b"unix reply\n");
    assert_eq!(read_exact_line(&mut client), "unix reply\n");
    drop(client);
    assert_eq!(sw.finish().code(), 0);
    assert!(!path.exists(), "the socket file is removed at exit");

    // And --connect to a std listener.
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut sw = Proc::spawn_piped(&["raw", "--connect", &ep]);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    conn.write_all(b"to sockwire\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("to sockwire"));
    sw.write(b"to std\n");
    assert_eq!(read_exact_line(&mut conn), "to std\n");
    drop(conn);
    assert_eq!(sw.finish().code(), 0);
}

#[test]
fn raw_keep_open_serves_several_clients() {
    let mut sw = Proc::spawn_piped(&["raw", "--listen", "tcp://127.0.0.1:0", "--keep-open"]);
    let ep = sw.bound();
    let addr = ep.strip_prefix("tcp://").unwrap().to_string();
    let mut a = TcpStream::connect(&addr).unwrap();
    let mut b = TcpStream::connect(&addr).unwrap();
    for c in [&a, &b] {
        c.set_read_timeout(Some(T)).unwrap();
    }
    a.write_all(b"from a\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("from a"));
    b.write_all(b"from b\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("from b"));
    sw.write(b"to all\n");
    assert_eq!(read_exact_line(&mut a), "to all\n");
    assert_eq!(read_exact_line(&mut b), "to all\n");
    drop(a);
    // Still serving after a client left.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"from c\n").unwrap();
    assert_eq!(sw.stdout_line(T).as_deref(), Some("from c"));
    sw.signal("TERM");
    assert_eq!(sw.finish().code(), 0);
}

#[test]
fn raw_errors_are_one_line() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    assert_fails(&run(&["raw", "--connect", &ep]), 1, &format!("'{ep}'"));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    assert_fails(&run(&["raw", "--listen", &ep]), 1, "in use");
    assert_fails(
        &run(&["raw", "--listen", "tcp://127.0.0.1:99999"]),
        1,
        "99999",
    );
    assert_fails(&run(&["raw", "--connect", "sctp://x:1"]), 1, "'sctp://x:1'");
}
