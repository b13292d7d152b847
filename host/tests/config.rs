//! The config file: every shipped example parses, the empty file gives the defaults, and each
//! error names its key (hickory's practice: a config we ship that does not load is a bug).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera::Config;
use tessera::config::{ConfigError, IpLogging, ResourceConflict, SaslMechanism, StorageConfig};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("examples/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml")
            // Example plugins live under examples/ too; their Cargo manifests are not configs.
            && path.file_name().is_none_or(|n| n != "Cargo.toml")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_config_parses() {
    let mut files = Vec::new();
    toml_files(&examples_dir(), &mut files);
    assert!(!files.is_empty(), "no *.toml under examples/");
    for file in files {
        if let Err(e) = Config::load(&file) {
            panic!("{}: {e}", file.display());
        }
    }
}

/// The documented example spells out every default, so it must equal the empty file.
#[test]
fn the_full_example_matches_the_defaults() {
    let example = Config::load(examples_dir().join("tessera.toml")).expect("example loads");
    let empty = Config::from_toml_str("").expect("empty file loads");
    assert_eq!(format!("{example:?}"), format!("{empty:?}"));
}

#[test]
fn empty_file_gives_the_defaults() {
    let c = Config::from_toml_str("").expect("empty file is valid");
    assert_eq!(c.domain, "localhost");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    let addr = |s: &str| s.parse::<SocketAddr>().expect("literal address");
    assert_eq!(c.listen.c2s, vec![addr("0.0.0.0:5222")]);
    assert_eq!(c.listen.c2s_direct_tls, vec![addr("0.0.0.0:5223")]);
    assert!(c.tls.cert.is_none() && c.tls.key.is_none());
    assert!(c.tls.require_encryption);
    assert_eq!(
        c.sasl.mechanisms,
        vec![
            SaslMechanism::ScramSha256Plus,
            SaslMechanism::ScramSha1Plus,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha1,
            SaslMechanism::Plain,
        ]
    );
    assert_eq!(c.sasl.scram_iterations, 10_000);
    assert_eq!(c.sasl.max_failures_per_ip, 5);
    assert_eq!(c.sasl.max_failures_per_account, 5);
    assert_eq!(c.sasl.failure_window, Duration::from_secs(300));
    match &c.storage {
        StorageConfig::Sqlite { path } => assert_eq!(path, &Path::new("./data").join("tessera.db")),
        other => panic!("default storage is SQLite, got {other:?}"),
    }
    assert_eq!(c.limits.stanza_bytes, 256 * 1024);
    assert_eq!(c.limits.depth, 32);
    assert_eq!(c.limits.attributes, 64);
    assert_eq!(c.limits.namespaces, 32);
    assert_eq!(c.limits.handshake_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(300));
    assert_eq!(c.limits.ping_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.session_queue, 1024);
    assert_eq!(c.limits.max_connections, 20_000);
    assert_eq!(c.limits.shutdown_grace, Duration::from_secs(10));
    assert_eq!(c.limits.stanza_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.stanza_rate, Some(200));
    assert_eq!(c.limits.stanza_burst, 1000);
    assert_eq!(c.limits.connections_per_ip, Some(100));
    assert_eq!(c.limits.connect_rate_per_ip, Some(10));
    assert!(c.limits.loopback_exempt);
    assert_eq!(c.sessions.resource_conflict, ResourceConflict::KickOld);
    assert_eq!(c.sessions.max_per_account, 32);
    assert!(!c.features.version);
    assert_eq!(c.logging.level, "info");
    assert_eq!(c.logging.ips, IpLogging::Never);
}

#[test]
fn default_with_puts_everything_under_the_data_dir() {
    let c = Config::default_with(PathBuf::from("/tmp/t"));
    assert_eq!(c.data_dir, PathBuf::from("/tmp/t"));
    match &c.storage {
        StorageConfig::Sqlite { path } => assert_eq!(path, Path::new("/tmp/t/tessera.db")),
        other => panic!("default storage is SQLite, got {other:?}"),
    }
    assert_eq!(c.domain, "localhost");
}

#[test]
fn values_are_read() {
    let c = Config::from_toml_str(
        r#"
        domain = "Example.ORG"
        data_dir = "/var/lib/tessera"
        [listen]
        c2s = ["[::]:5222", "127.0.0.1:15222"]
        c2s_direct_tls = []
        [tls]
        cert = "/etc/tls/chain.pem"
        key = "/etc/tls/key.pem"
        [sasl]
        mechanisms = ["SCRAM-SHA-256", "PLAIN"]
        failure_window = "1h 30m"
        [storage]
        url = "postgres://u:p@db/xmpp"
        max_connections = 4
        [limits]
        stanza_bytes = 65536
        idle_timeout = "7d"
        [sessions]
        resource_conflict = "rename"
        [features]
        version = true
        [logging]
        level = "info,tessera=debug"
        ips = "failed-logins"
        "#,
    )
    .expect("valid config");
    assert_eq!(c.domain, "example.org");
    assert_eq!(c.listen.c2s.len(), 2);
    assert!(c.listen.c2s_direct_tls.is_empty());
    assert_eq!(c.tls.cert.as_deref(), Some(Path::new("/etc/tls/chain.pem")));
    assert_eq!(
        c.sasl.mechanisms,
        vec![SaslMechanism::ScramSha256, SaslMechanism::Plain]
    );
    assert_eq!(c.sasl.failure_window, Duration::from_secs(5400));
    match &c.storage {
        StorageConfig::Postgres {
            url,
            max_connections,
        } => {
            assert_eq!(url, "postgres://u:p@db/xmpp");
            assert_eq!(*max_connections, 4);
        }
        other => panic!("expected PostgreSQL, got {other:?}"),
    }
    assert_eq!(c.limits.stanza_bytes, 65_536);
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(7 * 86_400));
    assert_eq!(c.sessions.resource_conflict, ResourceConflict::Rename);
    assert!(c.features.version);
    assert_eq!(c.logging.ips, IpLogging::FailedLogins);
}

#[test]
fn sqlite_url_gives_a_path() {
    let c = Config::from_toml_str("[storage]\nurl = \"sqlite:///srv/x.db\"").expect("valid");
    match &c.storage {
        StorageConfig::Sqlite { path } => assert_eq!(path, Path::new("/srv/x.db")),
        other => panic!("expected SQLite, got {other:?}"),
    }
}

/// Parses `source`, expecting an error whose message is exactly `message`.
#[track_caller]
fn fails(source: &str, message: &str) -> ConfigError {
    match Config::from_toml_str(source) {
        Ok(c) => panic!("expected `{message}`, got {c:?}"),
        Err(e) => {
            assert_eq!(e.to_string(), message);
            e
        }
    }
}

/// Parses `source`, expecting an error about `key` whose message contains `part`.
#[track_caller]
fn fails_at(source: &str, key: &str, part: &str) {
    match Config::from_toml_str(source) {
        Ok(c) => panic!("expected an error at {key}, got {c:?}"),
        Err(e) => {
            assert_eq!(e.key().as_deref(), Some(key), "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{key}: ")), "{msg}");
            assert!(msg.contains(part), "{msg}");
        }
    }
}

#[test]
fn unknown_key_in_a_table() {
    let e = fails("[tls]\nfoo = 1\n", "unknown key \"foo\" in [tls]");
    assert_eq!(e.key().as_deref(), Some("tls.foo"));
}

#[test]
fn unknown_key_at_top_level() {
    fails(
        "domian = \"example.org\"\n",
        "unknown key \"domian\" in the top level",
    );
}

#[test]
fn unknown_table() {
    fails(
        "[tsl]\ncert = \"x\"\n",
        "unknown key \"tsl\" in the top level",
    );
}

#[test]
fn unknown_key_in_a_dotted_or_inline_table() {
    fails(
        "limits.stanza_byte = 5000\n",
        "unknown key \"stanza_byte\" in [limits]",
    );
    fails(
        "sessions = { max = 1 }\n",
        "unknown key \"max\" in [sessions]",
    );
}

#[test]
fn wrong_type_names_the_key() {
    fails_at(
        "[tls]\nrequire_encryption = \"yes\"\n",
        "tls.require_encryption",
        "invalid type",
    );
    fails_at("[listen]\nc2s = [5222]\n", "listen.c2s", "invalid type");
}

#[test]
fn bad_duration() {
    fails_at(
        "[limits]\nidle_timeout = \"5 fortnights\"\n",
        "limits.idle_timeout",
        "invalid duration",
    );
    fails_at(
        "[sasl]\nfailure_window = \"0s\"\n",
        "sasl.failure_window",
        "longer than zero",
    );
}

#[test]
fn bad_size() {
    fails(
        "[limits]\nstanza_bytes = 1000\n",
        "limits.stanza_bytes: must be at least 4096",
    );
    fails_at(
        "[limits]\nstanza_bytes = \"12 parsecs\"\n",
        "limits.stanza_bytes",
        "256KiB",
    );
    fails_at(
        "[limits]\nstanza_bytes = \"1GiB\"\n",
        "limits.stanza_bytes",
        "at most",
    );
    fails_at(
        "[limits]\nstanza_bytes = true\n",
        "limits.stanza_bytes",
        "256KiB",
    );
}

#[test]
fn bad_domain() {
    fails_at(
        "domain = \"not a domain\"\n",
        "domain",
        "not a valid domain",
    );
    fails_at("domain = \"alice@example.org\"\n", "domain", "not a domain");
    fails_at("domain = \"\"\n", "domain", "empty");
}

#[test]
fn cert_and_key_go_together() {
    fails(
        "[tls]\ncert = \"c.pem\"\n",
        "tls.key: required when tls.cert is set",
    );
    fails(
        "[tls]\nkey = \"k.pem\"\n",
        "tls.cert: required when tls.key is set",
    );
}

#[test]
fn bad_listen_address() {
    fails_at(
        "[listen]\nc2s = [\"localhost:5222\"]\n",
        "listen.c2s",
        "IP:port",
    );
    fails_at(
        "[listen]\nc2s = []\nc2s_direct_tls = []\n",
        "listen",
        "at least one",
    );
}

#[test]
fn bad_sasl() {
    fails_at(
        "[sasl]\nmechanisms = [\"DIGEST-MD5\"]\n",
        "sasl.mechanisms",
        "unknown mechanism",
    );
    fails_at(
        "[sasl]\nmechanisms = []\n",
        "sasl.mechanisms",
        "at least one",
    );
    fails_at(
        "[sasl]\nmechanisms = [\"PLAIN\", \"plain\"]\n",
        "sasl.mechanisms",
        "twice",
    );
    fails(
        "[sasl]\nscram_iterations = 1000\n",
        "sasl.scram_iterations: must be at least 4096",
    );
    fails_at(
        "[sasl]\nmax_failures_per_ip = 0\n",
        "sasl.max_failures_per_ip",
        "at least 1",
    );
}

#[test]
fn bad_storage_url_is_not_echoed() {
    let e = Config::from_toml_str("[storage]\nurl = \"mysql://u:hunter2@db/x\"\n")
        .expect_err("mysql is not supported");
    assert_eq!(e.key().as_deref(), Some("storage.url"));
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn bad_enums_and_counts() {
    fails_at(
        "[sessions]\nresource_conflict = \"kick\"\n",
        "sessions.resource_conflict",
        "kick-old",
    );
    fails_at(
        "[sessions]\nmax_per_account = 0\n",
        "sessions.max_per_account",
        "at least 1",
    );
    fails_at(
        "[logging]\nips = \"sometimes\"\n",
        "logging.ips",
        "failed-logins",
    );
    fails_at(
        "[logging]\nlevel = \"tessera=loud\"\n",
        "logging.level",
        "invalid filter",
    );
    fails_at("[limits]\ndepth = -3\n", "limits.depth", "at least 4");
    fails_at(
        "[limits]\nstanza_rate = -1\n",
        "limits.stanza_rate",
        "0 (no limit) or a positive number",
    );
    fails_at(
        "[limits]\nstanza_burst = 0\n",
        "limits.stanza_burst",
        "at least 1",
    );
    fails_at(
        "[limits]\nstanza_timeout = \"soon\"\n",
        "limits.stanza_timeout",
        "invalid duration",
    );
}

#[test]
fn zero_turns_a_rate_limit_off() {
    let c = Config::from_toml_str(
        "[limits]\nstanza_rate = 0\nconnections_per_ip = 0\nconnect_rate_per_ip = 0\n",
    )
    .expect("valid");
    assert_eq!(c.limits.stanza_rate, None);
    assert_eq!(c.limits.connections_per_ip, None);
    assert_eq!(c.limits.connect_rate_per_ip, None);
}

#[test]
fn syntax_error_has_a_position() {
    let e = Config::from_toml_str("domain = \"x\"\n[limits\n").expect_err("broken TOML");
    match e {
        ConfigError::Syntax { line, .. } => assert_eq!(line, 2),
        other => panic!("expected a syntax error, got {other}"),
    }
}

#[test]
fn missing_file_is_a_read_error() {
    let e = Config::load("/nonexistent/tessera.toml").expect_err("no such file");
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/tessera.toml"), "{e}");
}

/// `tessera check-config`, run as the operator would: `ok` and status 0, or the problem and 1.
fn check_config(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the tessera binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_binary_accepts_the_example() {
    let example = examples_dir().join("tessera.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let example = example.to_str().expect("utf-8 path");
    let (ok, stdout, _) = check_config(&["check-config", "--config", example], dir.path());
    assert!(ok);
    assert_eq!(stdout.trim(), "ok");
}

#[test]
fn check_config_binary_uses_defaults_or_the_local_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No ./tessera.toml: the embedded defaults are valid.
    let (ok, stdout, _) = check_config(&["check-config"], dir.path());
    assert!(ok && stdout.trim() == "ok");
    // A ./tessera.toml is picked up without --config.
    std::fs::write(dir.path().join("tessera.toml"), "[limits]\ndepth = 1\n").expect("write");
    let (ok, stdout, stderr) = check_config(&["check-config"], dir.path());
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("limits.depth: must be at least 4"),
        "{stderr}"
    );
}

#[test]
fn check_config_binary_reports_unreadable_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("t.toml"),
        "[tls]\ncert = \"nope.pem\"\nkey = \"nope-key.pem\"\n",
    )
    .expect("write");
    let (ok, _, stderr) = check_config(&["--config", "t.toml", "check-config"], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("tls.cert: cannot read nope.pem"),
        "{stderr}"
    );
}

#[test]
fn plugin_list_and_inspect_show_the_embedded_components() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = check_config(&["plugin", "list"], dir.path());
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("echo-bot "))
        .unwrap_or_else(|| panic!("echo-bot listed: {stdout}"));
    assert!(line.ends_with("(imports: log, router)"), "{line}");
    let (ok, stdout, stderr) =
        check_config(&["plugin", "inspect", "--builtin", "echo-bot"], dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("echo-bot"), "{stdout}");
    let (ok, _, stderr) = check_config(&["plugin", "inspect", "--builtin", "nope"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("no such built-in"), "{stderr}");
}
