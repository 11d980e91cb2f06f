//! The server's listening sockets, opened before anything else is started.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// Connections waiting to be accepted, per socket (actix-web's own default for `bind`).
const BACKLOG: i32 = 1024;

/// Listens on every address `bind` names, as actix-web's `bind` would (a name such as
/// `localhost:8080` may name several; one that can be listened on is enough). Done first, so
/// that an address in use stops a start before the database is migrated, a signing key is
/// made or the engine takes up runs.
pub(crate) fn listen(bind: &str) -> anyhow::Result<Vec<TcpListener>> {
    let cannot = || format!("cannot listen on {bind}");
    let mut listeners = Vec::new();
    let mut refused = None;
    for addr in bind.to_socket_addrs().with_context(cannot)? {
        match listener(addr) {
            Ok(listener) => listeners.push(listener),
            Err(error) => refused = Some(error),
        }
    }
    match refused {
        Some(error) if listeners.is_empty() => Err(error).with_context(cannot),
        None if listeners.is_empty() => anyhow::bail!("{}: it names no address", cannot()),
        _ => Ok(listeners),
    }
}

fn listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restart can listen again while the previous process's connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
