//! The `tessera` binary: a thin CLI over the library.
//!
//! ```text
//! tessera [--config FILE] [run]                 serve (the default)
//! tessera [--config FILE] user add|passwd NAME  password read from stdin, never from argv
//! tessera [--config FILE] user remove NAME
//! tessera [--config FILE] user list
//! tessera [--config FILE] check-config          prints "ok", or the problem and exits 1
//! tessera plugin inspect FILE.wasm              what a plugin declares and imports
//! tessera plugin inspect --builtin NAME         the same for a plugin embedded in the binary
//! tessera plugin list                           the plugins embedded in the binary
//! tessera [--config FILE] policy [--format text|json|html]
//!                                               the privacy policy /privacy publishes
//! ```
//!
//! Without `--config`, `./tessera.toml` is used if it exists, else the embedded defaults.

// The CLI's output is its interface: `check-config` prints "ok", `user list` prints accounts,
// and errors go to stderr before (or instead of) logging being set up.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "command-line output is this binary's interface"
)]

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use tessera::Config;
use tessera::storage::Storage;

/// Tessera: an XMPP server whose features are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    /// Configuration file (default: ./tessera.toml if it exists, else built-in defaults).
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Run,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Validate the configuration: prints "ok", or the problem and exits with status 1.
    CheckConfig,
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        action: PluginCommand,
    },
    /// Print the privacy policy the server publishes at /privacy, built from the configuration
    /// and the configured plugins' declarations (the plugins are loaded, the server is not
    /// started).
    Policy {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: PolicyFormat,
    },
}

/// How `tessera policy` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PolicyFormat {
    /// Plain text.
    Text,
    /// JSON, as /privacy.json serves it.
    Json,
    /// HTML, as /privacy serves it.
    Html,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Print a component's name, version, API version, imported capabilities, data categories
    /// and subscriptions.
    Inspect {
        /// The component (`.wasm`).
        #[arg(required_unless_present = "builtin")]
        file: Option<PathBuf>,
        /// Inspect the component embedded in this binary under this name instead.
        #[arg(long, conflicts_with = "file")]
        builtin: Option<String>,
    },
    /// List the plugins embedded in this binary, with version and the capabilities each imports.
    List,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from stdin (one line).
    Add {
        /// The username (the localpart of the JID).
        name: String,
    },
    /// Delete an account and everything it owns.
    Remove {
        /// The username.
        name: String,
    },
    /// Change an account's password; the new password is read from stdin (one line).
    Passwd {
        /// The username.
        name: String,
    },
    /// List accounts.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Run);
    // Needs no config: it reads only the components.
    if let Command::Plugin { action } = &command {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        match action {
            PluginCommand::Inspect {
                file: Some(file), ..
            } => print!("{}", runtime.block_on(tessera::plugins::inspect(file))?),
            PluginCommand::Inspect {
                builtin: Some(name),
                ..
            } => print!(
                "{}",
                runtime.block_on(tessera::plugins::inspect_builtin(name))?
            ),
            PluginCommand::Inspect { .. } => unreachable!("clap requires a file or --builtin"),
            PluginCommand::List => {
                for name in tessera::plugins::builtin::names() {
                    let i = runtime.block_on(tessera::plugins::inspect_builtin(name))?;
                    println!(
                        "{name} {} (imports: {})",
                        i.version,
                        if i.capabilities.is_empty() {
                            "nothing".to_owned()
                        } else {
                            i.capabilities.join(", ")
                        }
                    );
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) if matches!(command, Command::CheckConfig) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e),
    };
    if let Command::CheckConfig = command {
        return Ok(match config.check_files() {
            Ok(()) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        });
    }

    init_logging(&config.logging.level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Run => serve(config).await,
            Command::User { action } => user(config, action).await,
            Command::Policy { format } => policy(config, format).await,
            Command::CheckConfig | Command::Plugin { .. } => unreachable!("handled above"),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `--config FILE`, else `./tessera.toml` if present, else the embedded defaults.
fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new(tessera::config::DEFAULT_PATH);
    let path = match path {
        Some(path) => Some(path),
        None if default.exists() => Some(default),
        None => None,
    };
    match path {
        Some(path) => Config::load(path).map_err(|e| match e {
            // The message already names the file.
            tessera::config::ConfigError::Read { .. } => anyhow::Error::new(e),
            _ => anyhow::Error::new(e).context(path.display().to_string()),
        }),
        None => Ok(Config::from_toml_str("")?),
    }
}

/// `RUST_LOG` wins over `logging.level`, so an operator can debug without editing the file.
fn init_logging(level: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(env) if !env.is_empty() => EnvFilter::builder()
            .parse(&env)
            .with_context(|| format!("invalid {}", EnvFilter::DEFAULT_ENV))?,
        // The plugin compiler logs its IR at debug and trace: minutes of output per component
        // that say nothing about the server. Kept at info unless the level names it.
        _ if level.contains("cranelift")
            || level.contains("wasmtime")
            || level.contains("regalloc") =>
        {
            EnvFilter::builder()
                .parse(level)
                .context("invalid logging.level")?
        }
        _ => EnvFilter::builder()
            .parse(format!(
                "{level},cranelift_codegen=info,cranelift_frontend=info,regalloc2=info,\
                 wasmtime_cranelift=info,wasmtime_internal_cranelift=info"
            ))
            .context("invalid logging.level")?,
    };
    // Colours only on a terminal: escape codes in journald or a log file are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        domain = %config.domain,
        "starting tessera"
    );
    create_data_dir(&config)?;
    tessera::Server::bind(config).await?.run().await
}

async fn policy(config: Config, format: PolicyFormat) -> anyhow::Result<()> {
    // Loading plugins writes their compile cache under data_dir.
    create_data_dir(&config)?;
    let policy = tessera::policy::Policy::load(&config).await?;
    let text = match format {
        PolicyFormat::Text => policy.to_text(),
        PolicyFormat::Json => policy.to_json() + "\n",
        PolicyFormat::Html => policy.to_html(),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the policy")
}

async fn user(config: Config, action: UserCommand) -> anyhow::Result<()> {
    create_data_dir(&config)?;
    let storage = Storage::open(&config.storage)
        .await
        .context("opening storage")?
        .with_blob_dir(config.data_dir.join("blobs"));
    match action {
        UserCommand::Add { name } => {
            let password = read_password(&format!("Password for {name}: "))?;
            tessera::accounts::add(&storage, &config, &name, password.expose_secret())
                .await
                .with_context(|| format!("cannot add {name}"))?;
            eprintln!("added {name}@{}", config.domain);
        }
        UserCommand::Passwd { name } => {
            let password = read_password(&format!("New password for {name}: "))?;
            let found =
                tessera::accounts::set_password(&storage, &config, &name, password.expose_secret())
                    .await
                    .with_context(|| format!("cannot change the password of {name}"))?;
            if !found {
                bail!("no such account: {name}");
            }
            eprintln!("password changed for {name}@{}", config.domain);
        }
        UserCommand::Remove { name } => {
            let found = tessera::accounts::remove(&storage, &name)
                .await
                .with_context(|| format!("cannot remove {name}"))?;
            if !found {
                bail!("no such account: {name}");
            }
            eprintln!("removed {name}@{}", config.domain);
        }
        UserCommand::List => {
            let mut out = std::io::stdout().lock();
            for account in tessera::accounts::list(&storage).await? {
                let last = account
                    .last_login_at
                    .map_or_else(|| "never".to_owned(), timestamp);
                writeln!(
                    out,
                    "{}@{}\tcreated {}\tlast login {last}",
                    account.username,
                    config.domain,
                    timestamp(account.created_at)
                )?;
            }
        }
    }
    Ok(())
}

fn timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |t| t.to_string())
}

/// SQLite creates its file but not the directory; the generated certificate lives there too.
fn create_data_dir(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))
}

/// Reads one line from stdin as the password. On a terminal, prompts on stderr, turns echo off
/// while typing and asks twice; from a pipe it reads exactly one line, so scripts can
/// `printf '%s\n' "$pw" | tessera user add alice`. Passwords never come from argv, where other
/// users could read them in the process list.
fn read_password(prompt: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_line(&mut stdin.lock());
    }
    let first = prompt_hidden(prompt)?;
    let second = prompt_hidden("Again: ")?;
    if first.expose_secret() != second.expose_secret() {
        bail!("the passwords do not match");
    }
    Ok(first)
}

fn read_line(input: &mut impl BufRead) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    input.read_line(&mut line).context("reading the password")?;
    // Only the line ending goes: spaces are allowed in passwords.
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        bail!("empty password (expected one line on stdin)");
    }
    Ok(SecretString::from(password.to_owned()))
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<SecretString> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let echo = Echo::off();
    let password = read_line(&mut std::io::stdin().lock());
    drop(echo);
    eprintln!();
    password
}

/// Terminal echo turned off via `stty` for as long as this lives; best effort (no `stty`, no
/// hiding), so the CLI needs no terminal library.
struct Echo {
    restore: bool,
}

impl Echo {
    fn off() -> Self {
        let restore = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
        Self { restore }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if self.restore {
            let _ = std::process::Command::new("stty")
                .arg("echo")
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_is_the_default_and_config_is_global() {
        let cli = Cli::try_parse_from(["tessera"]).expect("no args");
        assert!(cli.command.is_none() && cli.config.is_none());
        let cli = Cli::try_parse_from(["tessera", "user", "list", "--config", "x.toml"])
            .expect("config after the subcommand");
        assert_eq!(cli.config.as_deref(), Some(Path::new("x.toml")));
        assert!(matches!(
            cli.command,
            Some(Command::User {
                action: UserCommand::List
            })
        ));
    }

    #[test]
    fn password_is_not_an_argument() {
        assert!(Cli::try_parse_from(["tessera", "user", "add", "alice", "hunter2"]).is_err());
    }

    #[test]
    fn password_line_keeps_inner_spaces_and_drops_the_line_ending() {
        let pw = read_line(&mut " two words \r\nnext".as_bytes()).expect("a line");
        assert_eq!(pw.expose_secret(), " two words ");
        assert!(read_line(&mut "\n".as_bytes()).is_err());
        assert!(read_line(&mut "".as_bytes()).is_err());
    }
}
