//! [`FlakyLink`]: a loopback TCP relay between a client and the server that a test can break the
//! way a phone's network breaks, to exercise XEP-0198 resumption with a real client.
//!
//! Bytes are relayed as they are (TLS included: the relay sees nothing). [`FlakyLink::blackhole`]
//! makes the current connections silently drop what the server sends, as when a phone walks out
//! of Wi-Fi: the server's writes succeed and nothing arrives. [`FlakyLink::cut`] then closes those
//! connections. Connections made after a cut relay normally.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::TIMEOUT;

#[derive(Default)]
struct State {
    /// Server-to-client bytes of the current generation are dropped.
    blackhole: AtomicBool,
    /// Server-to-client bytes dropped so far.
    dropped: AtomicUsize,
    dropped_changed: Notify,
}

/// A relay on `127.0.0.1:0` to one target address; stops with the value.
pub struct FlakyLink {
    addr: SocketAddr,
    state: Arc<State>,
    /// Bumped by [`FlakyLink::cut`]: connections of older generations close.
    generation: watch::Sender<u64>,
    _tasks: JoinSet<()>,
}

impl std::fmt::Debug for FlakyLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlakyLink")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FlakyLink {
    /// Starts relaying to `target`.
    ///
    /// # Errors
    /// The listener cannot bind.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (generation, _) = watch::channel(0u64);
        let mut tasks = JoinSet::new();
        let (st, gen_tx) = (state.clone(), generation.clone());
        tasks.spawn(async move {
            let mut relays = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                relays.spawn(relay(client, server, st.clone(), gen_tx.subscribe()));
            }
        });
        Ok(Self {
            addr,
            state,
            generation,
            _tasks: tasks,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, what the server sends on the current connections is dropped.
    pub fn blackhole(&self) {
        self.state.blackhole.store(true, Ordering::SeqCst);
    }

    /// Waits until at least `bytes` from the server have been dropped.
    ///
    /// # Errors
    /// Not within [`TIMEOUT`].
    pub async fn dropped_at_least(&self, bytes: usize) -> anyhow::Result<()> {
        let wait = async {
            loop {
                let changed = self.state.dropped_changed.notified();
                if self.state.dropped.load(Ordering::SeqCst) >= bytes {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(TIMEOUT, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "only {} of {bytes} bytes from the server were dropped",
                self.state.dropped.load(Ordering::SeqCst)
            )
        })
    }

    /// Closes every current connection (both sides, without a word); later ones relay normally.
    pub fn cut(&self) {
        self.state.blackhole.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    state: Arc<State>,
    mut generation: watch::Receiver<u64>,
) {
    let born = *generation.borrow_and_update();
    let (mut client_rd, mut client_wr) = client.split();
    let (mut server_rd, mut server_wr) = server.split();
    let upstream = async {
        let mut buf = [0u8; 8192];
        loop {
            match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_wr.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut buf = [0u8; 8192];
        loop {
            match server_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if state.blackhole.load(Ordering::SeqCst) => {
                    state.dropped.fetch_add(n, Ordering::SeqCst);
                    state.dropped_changed.notify_waiters();
                }
                Ok(n) => {
                    if client_wr.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let cut = async {
        while generation.changed().await.is_ok() {
            if *generation.borrow() != born {
                return;
            }
        }
        // The link itself is gone.
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        () = cut => {}
    }
    // Dropping both streams closes them.
}
