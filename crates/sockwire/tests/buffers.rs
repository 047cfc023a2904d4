//! The kernel send buffer of ipc connections: grown once a stream of small messages fills it,
//! left as the kernel made it for large messages, and as the options say when they set it.
//!
//! The buffers are read from the connection sockets themselves: every descriptor of this
//! process whose local address is the bound path is the listener or a connection it accepted.

use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use socket2::SockRef;
use sockwire::{Bytes, Error, PullSocket, PushSocket, IPC_STREAM_BUFFER};

/// `(SO_SNDBUF, bytes in the kernel's send queue)` of each accepted connection on `path`.
fn accepted(path: &Path) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()))
        else {
            continue;
        };
        // SAFETY: only read-only socket calls are made on it; a descriptor closed (or reused)
        // since the directory was read makes them fail or answer for another file, which
        // the address check below filters out.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let s = SockRef::from(&fd);
        if !s.local_addr().is_ok_and(|a| a.as_pathname() == Some(path)) {
            continue;
        }
        if s.is_listener().unwrap_or(true) {
            continue;
        }
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
        let r = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                libc::TIOCOUTQ,
                &mut queued,
            )
        };
        assert_eq!(r, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
        found.push((s.send_buffer_size().expect("SO_SNDBUF"), queued as usize));
    }
    found
}

/// The send buffer Linux gives a new unix stream socket.
fn kernel_default() -> usize {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    SockRef::from(&a).send_buffer_size().unwrap()
}

/// A PUSH bound on ipc streams `size`-byte messages to a PULL that stops reading after a few,
/// until `done` says yes about the PUSH's connection (its send buffer and what it has queued),
/// or 20 s pass (a failure).
async fn stream_until(
    size: usize,
    send_buffer: Option<usize>,
    done: impl Fn(usize, usize) -> bool,
) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.sock");
    let ep = format!("ipc://{}", path.display());
    let push = PushSocket::new().unwrap();
    push.set_send_buffer(send_buffer);
    push.set_send_hwm(10);
    push.bind(&ep).unwrap();
    let pull = PullSocket::new().unwrap();
    pull.set_recv_hwm(10);
    pull.connect(&ep).unwrap();
    // One message through: the connection is up.
    push.send("hello").await.unwrap();
    assert_eq!(pull.recv().await.unwrap().get(0).unwrap(), &b"hello"[..]);

    push.set_send_timeout(Some(Duration::from_millis(100)));
    let body = Bytes::from(vec![7u8; size]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match push.send(body.clone()).await {
            Ok(()) => continue,
            // Everything between the two sockets may be full: look at the connection.
            Err(Error::Timeout { .. }) => {}
            Err(e) => panic!("send failed: {e}"),
        }
        let conns = accepted(&path);
        assert_eq!(conns.len(), 1, "one accepted connection on {ep}: {conns:?}");
        let (buffer, queued) = conns[0];
        if done(buffer, queued) {
            return (buffer, queued);
        }
        assert!(
            Instant::now() < deadline,
            "after 20 s: send buffer {buffer}, {queued} bytes queued"
        );
    }
}

#[tokio::test]
async fn a_stream_of_small_ipc_messages_grows_the_send_buffer() {
    let default = kernel_default();
    // The kernel caps what is asked at net.core.wmem_max and reports twice what it keeps.
    let (buffer, _) = stream_until(100, None, |buffer, _| buffer > default).await;
    assert!(buffer <= 2 * IPC_STREAM_BUFFER, "{buffer}");
}

#[tokio::test]
async fn a_stream_of_large_ipc_messages_keeps_the_kernel_send_buffer() {
    let default = kernel_default();
    // Once the kernel holds more than half its buffer, the connection has found it full.
    let (buffer, queued) = stream_until(64 << 10, None, |_, queued| queued > default / 2).await;
    assert_eq!(buffer, default, "{queued} bytes queued");
}

#[tokio::test]
async fn the_send_buffer_option_wins_over_the_growth() {
    let (buffer, _) = stream_until(100, Some(64 << 10), |_, queued| queued > 64 << 10).await;
    assert_eq!(buffer, 128 << 10);
}
