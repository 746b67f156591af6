//! Inherited file descriptors and signals, the only `unsafe` rgi-server
//! needs. Each function checks what it can before trusting a number.

use std::collections::HashSet;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// Descriptors already taken: a number can be owned once per process.
static TAKEN: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// Takes ownership of descriptor `fd`, which a parent process left open
/// for this one (`--fd N`, systemd socket activation, a supervisor's
/// worker). Refuses a number below 3 (stdin, stdout, stderr), one that is
/// not open, one that is not a socket, and one taken before, so that no
/// two owners close the same descriptor.
pub fn take_inherited_socket(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a standard stream, not a socket"),
        ));
    }
    // Held until the number is recorded, so that two callers cannot both
    // pass the checks for one descriptor.
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    // SAFETY: fstat only writes into the zeroed struct we own; an invalid
    // descriptor makes it fail with EBADF, nothing else.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("descriptor {fd} is not open: {e}"),
        ));
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not a socket"),
        ));
    }
    // After the checks of what the number is now: a descriptor taken and
    // closed may be reused by this process for a file, and is then "not a
    // socket" (the tests of this crate open one in parallel).
    if !taken.insert(fd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} was already taken"),
        ));
    }
    // SAFETY: the descriptor is open (fstat succeeded), and this process
    // owns it from here on: it was inherited for us to use, and the set
    // above refuses to hand the same number out twice.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `SIGTERM` to process `pid` (a worker asked to shut down
/// gracefully). Refuses pid 0 and negative ids, which would signal a whole
/// process group.
pub fn terminate(pid: u32) -> io::Result<()> {
    signal(pid, libc::SIGTERM)
}

/// Sends `SIGINT` to process `pid`.
pub fn interrupt(pid: u32) -> io::Result<()> {
    signal(pid, libc::SIGINT)
}

fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
    // SAFETY: kill has no memory effects; a bad pid is an error return.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd, IntoRawFd};

    use super::*;

    #[test]
    fn refuses_what_is_not_an_inherited_socket() {
        assert!(take_inherited_socket(0).is_err());
        assert!(take_inherited_socket(-1).is_err());
        assert!(take_inherited_socket(100_000).is_err(), "not open");
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = take_inherited_socket(file.as_raw_fd()).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
    }

    #[test]
    fn takes_a_socket_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fd = listener.into_raw_fd();
        let owned = take_inherited_socket(fd).unwrap();
        assert!(take_inherited_socket(fd).is_err(), "a second owner");
        let listener = std::net::TcpListener::from(owned);
        assert_eq!(listener.local_addr().unwrap(), addr);
    }

    #[test]
    fn refuses_group_signals() {
        assert!(terminate(0).is_err());
        assert!(terminate(u32::MAX).is_err());
    }
}
