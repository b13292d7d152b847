//! The issue-5 load generator's login paths against the real server, with small counts: held
//! sessions, the login rate, the salted-password cache, a forced mechanism, and failed logins
//! counted rather than fatal. Results are checked, never timings.

use tessera_tests::TestServer;
use tessera_tests::load::{self, Accounts, Hash, ScramCache, Target};

async fn server_with_accounts(count: usize) -> anyhow::Result<(TestServer, Target, Accounts)> {
    // At most three sessions per account, so a held session shows by blocking a fourth.
    let server = TestServer::with_config("[plugins]\n[sessions]\nmax_per_account = 3\n").await?;
    let target = Target {
        addr: server.c2s_addr(),
        domain: server.domain().to_owned(),
        tls: server.ca.client_config(),
    };
    let accounts = Accounts {
        prefix: "lg".to_owned(),
        count,
        password: "load pw".to_owned(),
    };
    for n in 0..count {
        server
            .add_user(&accounts.user(n), &accounts.password)
            .await?;
    }
    Ok((server, target, accounts))
}

/// Warm-up caches one salted password per account; the login rate then logs in more times
/// than there are accounts (each account in turn, unique resources), all of them completing.
#[tokio::test]
async fn login_rate_counts_completed_logins() -> anyhow::Result<()> {
    let (server, target, accounts) = server_with_accounts(3).await?;
    let cache = ScramCache::default();
    load::warm(&target, &accounts, 2, &cache).await?;
    assert_eq!(cache.len(), 3, "one salted password per account");

    let run = load::login_rate(&target, &accounts, 7, 3, &cache).await?;
    assert_eq!((run.ok, run.failed), (7, 0), "{:?}", run.first_error);
    assert!(run.iterations.is_some_and(|i| i >= 4096), "{run:?}");
    assert!(run.latency.p50 <= run.latency.p99 && run.latency.p99 <= run.latency.max);
    assert!(run.per_second() > 0.0);
    assert_eq!(
        cache.len(),
        3,
        "no account's salt changed, so nothing new was derived"
    );
    server.shutdown().await
}

/// Sessions are held open until closed: while five are held over two accounts (three on
/// the first), the first account has no room for a fourth session; once they are closed, it
/// has. Uses a forced mechanism (SCRAM-SHA-1, which the comparison uses for every server).
#[tokio::test]
async fn sessions_are_held_until_closed() -> anyhow::Result<()> {
    let (server, target, accounts) = server_with_accounts(2).await?;
    let cache = ScramCache::only(Hash::Sha1);
    let held = load::sessions(&target, &accounts, 5, 2, &cache).await?;
    assert_eq!(held.len(), 5, "{:?}", held.logins.first_error);
    assert_eq!((held.logins.ok, held.logins.failed), (5, 0));
    let first = Accounts {
        count: 1,
        ..accounts.clone()
    };
    let extra = load::login_rate(&target, &first, 1, 1, &cache).await?;
    assert_eq!((extra.ok, extra.failed), (0, 1), "a fourth session on lg0");
    held.close().await?;
    // The server learns of the closes asynchronously: poll, bounded.
    let mut after = None;
    for _ in 0..50 {
        let run = load::login_rate(&target, &first, 1, 1, &cache).await?;
        if run.ok == 1 {
            after = Some(run);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        after.is_some(),
        "lg0 had room again once the held sessions closed"
    );
    server.shutdown().await
}

/// A wrong password fails those logins without ending the run, and the warm-up refuses to
/// go on; the right password still logs in afterwards.
#[tokio::test]
async fn failed_logins_are_counted_not_fatal() -> anyhow::Result<()> {
    let (server, target, accounts) = server_with_accounts(1).await?;
    let wrong = Accounts {
        password: "not it".to_owned(),
        ..accounts.clone()
    };
    let run = load::login_rate(&target, &wrong, 2, 1, &ScramCache::default()).await?;
    assert_eq!((run.ok, run.failed), (0, 2));
    assert!(
        run.first_error
            .as_deref()
            .is_some_and(|e| e.contains("not-authorized")),
        "{:?}",
        run.first_error
    );
    assert!(
        load::warm(&target, &wrong, 1, &ScramCache::default())
            .await
            .is_err(),
        "warm-up refuses to go on with accounts that cannot log in"
    );
    let run = load::login_rate(&target, &accounts, 1, 1, &ScramCache::default()).await?;
    assert_eq!((run.ok, run.failed), (1, 0), "{:?}", run.first_error);
    server.shutdown().await
}
