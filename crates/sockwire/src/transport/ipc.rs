//! ipc: Unix domain stream sockets. The socket file is removed on unbind and close; a stale
//! file is replaced only when a probe connect to it is refused (nobody is listening).

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

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

pub(crate) async fn accept(listener: &UnixListener) -> std::io::Result<(UnixStream, String)> {
    let (s, _) = listener.accept().await?;
    Ok((s, "unix".to_string()))
}

pub(crate) async fn connect(path: &Path) -> std::io::Result<(UnixStream, String)> {
    if let Some(name) = abstract_name(path) {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        s.set_nonblocking(true)?;
        return Ok((
            UnixStream::from_std(s)?,
            format!("ipc://{}", path.display()),
        ));
    }
    let s = UnixStream::connect(path).await?;
    Ok((s, format!("ipc://{}", path.display())))
}
