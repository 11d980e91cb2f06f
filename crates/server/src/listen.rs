//! The server's sockets: bound before anything else is started, listening once it serves.

use std::{
    net::{SocketAddr, TcpListener, ToSocketAddrs},
    time::Duration,
};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// Connections waiting to be accepted, per socket (actix-web's own default for `bind`).
const BACKLOG: i32 = 1024;

/// The addresses a server will listen on, held: bound, not yet listening.
pub(crate) struct Bound {
    sockets: Vec<Socket>,
    bind: String,
}

/// Binds every address `bind` names, as actix-web's `bind` would (a name such as
/// `localhost:8080` may name several; one that can be bound is enough). Done first, so that an
/// address in use stops a start before the database is migrated, a signing key is made or the
/// engine takes up runs. Nothing is accepted until [`Bound::listen`]: a connection meanwhile
/// (a health check, a client) is refused at once rather than left waiting through a migration.
///
/// Every connection accepted closes once what the server sent has gone unread for
/// `unread_for` (`TCP_USER_TIMEOUT`, inherited from the listening socket, on Linux): an event
/// stream whose client stopped reading is dropped by the server, but its connection, whose
/// writes could not leave, stayed open — holding the client's stream slot and the kernel's
/// buffers — for as long as the client kept it.
pub(crate) fn bind(bind: &str, unread_for: Duration) -> anyhow::Result<Bound> {
    let cannot = || format!("cannot listen on {bind}");
    let mut sockets = Vec::new();
    let mut refused = None;
    for addr in bind.to_socket_addrs().with_context(cannot)? {
        match bound(addr, unread_for) {
            Ok(socket) => sockets.push(socket),
            Err(error) => refused = Some(error),
        }
    }
    match refused {
        Some(error) if sockets.is_empty() => Err(error).with_context(cannot),
        None if sockets.is_empty() => anyhow::bail!("{}: it names no address", cannot()),
        _ => Ok(Bound {
            sockets,
            bind: bind.to_owned(),
        }),
    }
}

fn bound(addr: SocketAddr, unread_for: Duration) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restart can bind again while the previous process's connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(unread_for))?;
    #[cfg(not(target_os = "linux"))]
    let _ = unread_for;
    socket.bind(&addr.into())?;
    Ok(socket)
}

impl Bound {
    /// Starts accepting connections.
    pub(crate) fn listen(self) -> anyhow::Result<Vec<TcpListener>> {
        self.sockets
            .into_iter()
            .map(|socket| {
                socket
                    .listen(BACKLOG)
                    .with_context(|| format!("cannot listen on {}", self.bind))?;
                Ok(socket.into())
            })
            .collect()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::{net::TcpStream, time::Duration};

    use socket2::SockRef;

    use super::bind;

    #[test]
    fn accepted_connections_close_when_left_unread() {
        let unread_for = Duration::from_secs(37);
        let listener = bind("127.0.0.1:0", unread_for)
            .unwrap()
            .listen()
            .unwrap()
            .remove(0);
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        // Inherited from the listening socket: what actix accepts has it too.
        assert_eq!(
            SockRef::from(&accepted).tcp_user_timeout().unwrap(),
            Some(unread_for)
        );
    }
}
