//! ipc: Unix domain stream sockets. The socket file is removed on unbind and close; a stale
//! file is replaced only when a probe connect to it is refused (nobody is listening).

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::Tuning;
use crate::error::{Error, Result};

/// sun_path holds 108 bytes including the terminating NUL.
const MAX_PATH: usize = 107;

fn abstract_name(path: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().strip_prefix(b"@")
}

/// Binds; returns the listener, the endpoint string and the file to remove on close.
pub(crate) fn bind(given: &str, path: &Path) -> Result<(UnixListener, String, Option<PathBuf>)> {
    use std::os::unix::ffi::OsStrExt;
    let map = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Error::AddrInUse {
                endpoint: given.to_string(),
            }
        } else {
            Error::Bind {
                endpoint: given.to_string(),
                source: e,
            }
        }
    };
    if path.as_os_str().as_bytes().len() > MAX_PATH {
        return Err(Error::InvalidEndpoint {
            endpoint: given.to_string(),
            reason: format!("the ipc path is longer than {MAX_PATH} bytes"),
        });
    }
    if let Some(name) = abstract_name(path) {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(map)?;
        let std_l = std::os::unix::net::UnixListener::bind_addr(&addr).map_err(map)?;
        std_l.set_nonblocking(true).map_err(map)?;
        return Ok((
            UnixListener::from_std(std_l).map_err(map)?,
            given.to_string(),
            None,
        ));
    }
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            // Is anybody there? Only a refused probe proves the file stale.
            match std::os::unix::net::UnixStream::connect(path) {
                Err(pe) if pe.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(map)?;
                    UnixListener::bind(path).map_err(map)?
                }
                _ => {
                    return Err(Error::AddrInUse {
                        endpoint: given.to_string(),
                    })
                }
            }
        }
        Err(e) => return Err(map(e)),
    };
    Ok((
        listener,
        format!("ipc://{}", path.display()),
        Some(path.to_path_buf()),
    ))
}

/// Kernel buffers of a new ipc connection: the ones the options give (the engine may grow the
/// send buffer later, see [`IPC_STREAM_BUFFER`](crate::IPC_STREAM_BUFFER)).
fn tune<S: std::os::fd::AsFd>(s: &S, tuning: Tuning) {
    tuning.apply_buffers(socket2::SockRef::from(s));
}

pub(crate) async fn accept(
    listener: &UnixListener,
    tuning: Tuning,
) -> std::io::Result<(UnixStream, String)> {
    let (s, _) = listener.accept().await?;
    tune(&s, tuning);
    Ok((s, "unix".to_string()))
}

pub(crate) async fn connect(path: &Path, tuning: Tuning) -> std::io::Result<(UnixStream, String)> {
    if let Some(name) = abstract_name(path) {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        s.set_nonblocking(true)?;
        tune(&s, tuning);
        return Ok((
            UnixStream::from_std(s)?,
            format!("ipc://{}", path.display()),
        ));
    }
    let s = UnixStream::connect(path).await?;
    tune(&s, tuning);
    Ok((s, format!("ipc://{}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning(send_buffer: Option<usize>, recv_buffer: Option<usize>) -> Tuning {
        Tuning {
            keepalive: None,
            send_buffer,
            recv_buffer,
        }
    }

    /// Both ends of one ipc connection made with `t`: (accepted, connected).
    async fn pair(t: Tuning) -> (UnixStream, UnixStream) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let (listener, _, _) = bind("ipc://test", &path).unwrap();
        let (connected, accepted) = tokio::join!(connect(&path, t), accept(&listener, t));
        (accepted.unwrap().0, connected.unwrap().0)
    }

    fn buffers(s: &UnixStream) -> (usize, usize) {
        let r = socket2::SockRef::from(s);
        (r.send_buffer_size().unwrap(), r.recv_buffer_size().unwrap())
    }

    #[tokio::test]
    async fn ipc_connections_get_the_buffers_the_options_give() {
        // Linux doubles what is asked (for its bookkeeping) and reports that.
        let (a, c) = pair(tuning(Some(64 << 10), Some(96 << 10))).await;
        for s in [&a, &c] {
            assert_eq!(buffers(s), (128 << 10, 192 << 10));
        }
    }

    #[tokio::test]
    async fn ipc_connections_keep_the_kernel_buffers_when_no_option_is_set() {
        let (plain, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let r = socket2::SockRef::from(&plain);
        let kernel = (r.send_buffer_size().unwrap(), r.recv_buffer_size().unwrap());
        let (a, c) = pair(tuning(None, None)).await;
        for s in [&a, &c] {
            assert_eq!(buffers(s), kernel);
        }
    }
}
