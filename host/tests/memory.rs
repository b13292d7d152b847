//! Issue 5: the state every idle session keeps. A client connection is served by one task whose
//! future is as large as its largest state for the session's whole life; a deep future left
//! inline (a stanza's handling, negotiation) once made it 13 KiB in release, most of the memory
//! per idle session (`docs/benchmarks.md`). Measured here on the test build, whose futures are
//! larger than release's, against a bound that fails if such a state comes back inline.

mod common;

use common::plugin_server::config;
use tessera::Server;
use tokio::net::{TcpListener, TcpStream};

/// Measured 2026-12-06: the test build's task is 3 712 bytes with the handling of a stanza boxed
/// and 8 168 with it inline (release: 4 112 and 13 168).
const MAX_TASK_BYTES: usize = 6 * 1024;

#[tokio::test]
async fn the_connection_task_stays_small() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::bind(config(dir.path(), "[plugins]\n")?).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let tcp = TcpStream::connect(listener.local_addr()?).await?;
    let size = tessera::bench::connection_task_size(&server, tcp);
    assert!(
        size <= MAX_TASK_BYTES,
        "the connection task is {size} bytes (bound {MAX_TASK_BYTES}): a large state is inline \
         in stream::c2s::serve or the session loop; box it"
    );
    Ok(())
}
