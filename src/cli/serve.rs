//! `pipec serve` (docs/serve.md): parses the options, gives the server a `Source` of checked
//! pipelines (file discovery and the checker live here), prints what it reports, and the
//! `token` subcommands.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::{Error, Outcome};
use crate::serve::{Limits, Loaded, Options, Role, Server, Source, Store};

/// Serve pipelines: fire their triggers, let held runs go on, and serve a dashboard and an
/// API over HTTP.
///
/// Every `.pipe` file under PATH (as `pipec check` finds them) is served and reloaded when
/// it changes; a file that stops checking keeps its last good version and shows its
/// diagnostics. Webhooks (GitHub, GitLab, a generic signed hook) and `trigger schedule`
/// start runs with the facts `pipec run --event …` takes; runs are `pipec` processes
/// sharing the state directory. Every route needs a token (`pipec serve token create`).
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  pipec serve token create alice --role approver   prints alice's token once\n  pipec serve ci/ --listen 127.0.0.1:8080          then open http://127.0.0.1:8080/login\n  PIPEC_WEBHOOK_SECRET=s3cret pipec serve .         GitHub: POST /hooks/github\n\nThe first line on stdout is `listening on http://ADDR`. SIGTERM or Ctrl-C stops the server; runs go on in their own processes."
)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Files, or folders searched recursively for `*.pipe` files.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// The address to listen on (a port of 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// A file whose content (trailing newline dropped) is the webhook secret (default:
    /// `PIPEC_WEBHOOK_SECRET`).
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Let `GET` pages and API routes answer without a token (read-only, as a viewer).
    #[arg(long)]
    open_read: bool,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_body: usize,
    /// How long a request may take to be answered, body included (408 after).
    #[arg(long, default_value = "30s", value_parser = duration)]
    request_timeout: Duration,
    /// How long a client may take to send a request's headers.
    #[arg(long, default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// How often files are looked at for changes, schedules checked and runs swept.
    #[arg(long, default_value = "1s", value_parser = duration)]
    tick: Duration,
    /// Serve HTTPS with this certificate chain (PEM; with `--tls-key`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Poll the `git` sources of the served pipelines this often (off unless given): a head
    /// that moved is a push to the pipeline's triggers, with its changed paths.
    #[arg(long, value_name = "INTERVAL", value_parser = duration)]
    poll: Option<Duration>,
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
        .map(Duration::from_secs)
        .map_err(str::to_string)
}

#[derive(clap::Subcommand)]
enum Sub {
    /// API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(clap::Subcommand)]
enum TokenCmd {
    /// Create a token and print it once (only its hash is kept).
    Create {
        name: String,
        #[arg(long, value_parser = ["viewer", "operator", "approver", "admin"])]
        role: String,
        #[arg(long, env = "PIPEC_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// List tokens (names, roles, creation times).
    List {
        #[arg(long, env = "PIPEC_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Revoke a token.
    Revoke {
        name: String,
        #[arg(long, env = "PIPEC_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
}

pub(crate) fn run(args: &Args) -> Outcome {
    match &args.command {
        Some(Sub::Token(t)) => token(t),
        None => serve(args),
    }
}

fn store(dir: Option<&std::path::Path>) -> Result<Store, Error> {
    Store::open(&crate::runtime::state::resolve_dir(dir)).map_err(Error::usage)
}

fn token(cmd: &TokenCmd) -> Outcome {
    match cmd {
        TokenCmd::Create {
            name,
            role,
            state_dir,
        } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(Error::usage(
                    "a token's name must be printable and not empty",
                ));
            }
            let role: Role = role.parse().map_err(Error::usage)?;
            let token = store(state_dir.as_deref())?
                .create_token(name, role, &crate::runtime::state::now())
                .map_err(Error::usage)?;
            println!("{token}");
            eprintln!(
                "token `{name}` ({}) created; it is shown only this once",
                role.as_str()
            );
        }
        TokenCmd::List { state_dir } => {
            for t in store(state_dir.as_deref())?
                .tokens()
                .map_err(Error::usage)?
            {
                println!("{:<24} {:<9} {}", t.name, t.role, t.created);
            }
        }
        TokenCmd::Revoke { name, state_dir } => {
            if !store(state_dir.as_deref())?
                .revoke(name)
                .map_err(Error::usage)?
            {
                return Err(Error::usage(format!("no token named `{name}`")));
            }
            eprintln!("token `{name}` revoked");
        }
    }
    Ok(super::exit::OK)
}

/// The pipelines under the served paths, found and checked as `pipec check` does.
struct Files(Vec<PathBuf>);

impl Source for Files {
    fn stamp(&self) -> u64 {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for f in super::files::collect(&self.0).unwrap_or_default() {
            f.hash(&mut h);
            if let Ok(m) = std::fs::metadata(&f) {
                m.len().hash(&mut h);
                m.modified().ok().hash(&mut h);
            }
        }
        h.finish()
    }

    fn load(&self) -> Vec<Loaded> {
        let files = super::files::collect(&self.0).unwrap_or_default();
        files.into_iter().map(load).collect()
    }
}

fn load(file: PathBuf) -> Loaded {
    let shown = super::files::display_name(&file);
    let mut map = crate::source::SourceMap::new();
    let text = match super::files::read_pipeline(&file) {
        Ok(t) => t,
        Err(why) => {
            return Loaded {
                file,
                shown: shown.clone(),
                ir: None,
                library: false,
                diagnostics: vec![serde_json::json!({"file": shown, "severity": "error",
                    "code": "", "message": why,
                    "range": {"start": {"line": 1, "column": 1}, "end": {"line": 1, "column": 1}}})],
            };
        }
    };
    let root = map.add(shown.clone(), text);
    let out = crate::compile(&mut map, root, &mut super::files::FsLoader);
    let errors = out
        .diagnostics
        .iter()
        .any(crate::diagnostics::Diagnostic::is_error);
    Loaded {
        library: out.ir.is_none() && !errors,
        diagnostics: out
            .diagnostics
            .iter()
            .map(|d| crate::diagnostics::render::json_diagnostic(&map, d))
            .collect(),
        ir: out.ir,
        file: std::path::absolute(&file).unwrap_or(file),
        shown,
    }
}

fn webhook_secret(args: &Args) -> Result<Option<Vec<u8>>, Error> {
    let text = match &args.webhook_secret_file {
        Some(f) => Some(super::files::read_value(f).map_err(Error::usage)?),
        None => std::env::var("PIPEC_WEBHOOK_SECRET").ok(),
    };
    Ok(text
        .map(|t| t.strip_suffix('\n').map(str::to_string).unwrap_or(t))
        .filter(|t| !t.is_empty())
        .map(String::into_bytes))
}

fn serve(args: &Args) -> Outcome {
    let pipec = std::env::current_exe()
        .map_err(|e| Error::usage(format!("cannot find the pipec binary: {e}")))?;
    let state_dir = crate::runtime::state::resolve_dir(args.state_dir.as_deref());
    let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
    // Paths are checked once here: a typo is a usage error, not an empty dashboard.
    super::files::collect(&args.paths)?;
    let opts = Options {
        listen: args.listen,
        state_dir,
        webhook_secret: webhook_secret(args)?,
        pipec,
        source: Box::new(Files(args.paths.clone())),
        report: Arc::new(|line: &str| {
            eprintln!("{} {line}", jiff::Zoned::now().strftime("%H:%M:%S"));
        }),
        limits: Limits {
            body: args.max_body,
            request: args.request_timeout,
            headers: args.header_timeout,
        },
        open_read: args.open_read,
        tick: args.tick,
        poll: args.poll,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let server = Server::bind(opts).await.map_err(Error::usage)?;
        let addr = server.addr().map_err(Error::usage)?;
        let scheme = if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        println!("listening on {scheme}://{addr}");
        let _ = std::io::stdout().flush();
        server.run().await.map_err(Error::usage)
    })?;
    Ok(super::exit::OK)
}
