//! Telling systemd the service is ready (`sd_notify(READY=1)`), for
//! `Type=notify` units: sent once lifespan startup has completed and the
//! listeners accept.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends `READY=1` to `$NOTIFY_SOCKET` when it is set; `Ok(false)` when it
/// is not (not run by systemd, or not a notify unit).
pub fn notify_ready() -> io::Result<bool> {
    notify("READY=1")
}

pub(crate) fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket name (Linux).
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
            return Ok(true);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract NOTIFY_SOCKET",
            ));
        }
    }
    socket.send_to(state.as_bytes(), path)?;
    Ok(true)
}
