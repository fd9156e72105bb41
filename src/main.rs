//! The `fauxauth` command: thin glue between the command line and the library crates.

mod listen;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use fauxauth_conformance::loadtest;
use fauxauth_server::config::SigningAlg;
use fauxauth_server::{Clock, MockServer, ProxyConfig, ServerConfig, TlsConfig};

/// jemalloc, not glibc's malloc: `fauxauth load` allocates for every request of 100 000 agents
/// and of the server they share a process with (docs/BENCHMARKS.md, "Capacity").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A fake OpenAI-style OAuth authorization server and conformance harness.
#[derive(Debug, Parser)]
#[command(name = "fauxauth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mock authorization server (built-in configuration unless --config).
    Serve {
        /// YAML configuration file (see docs/CONFIG.md).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on: IP:PORT or localhost:PORT (= 127.0.0.1); port 0 picks a
        /// free port. A non-loopback address needs --admin-token (and, for remote clients,
        /// --issuer).
        #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen::parse_addr)]
        addr: SocketAddr,
        /// The issuer URL clients are told (`iss`, discovery), e.g. http://auth.test:8080;
        /// overrides the config file's `issuer`. Default: http(s):// + the bound address.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// Also write every request's event as a JSON line to this file (see
        /// docs/CONTROL.md); complete after SIGINT/SIGTERM.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// How many recent events the control API keeps in memory (GET /_fauxauth/events);
        /// older ones remain in the --events file. About 1 KiB each.
        #[arg(long, value_name = "N", default_value_t = fauxauth_server::events::DEFAULT_CAPACITY,
              value_parser = clap::value_parser!(usize))]
        event_capacity: usize,
        /// Serve HTTPS with a CA and certificate generated at start (for localhost,
        /// 127.0.0.1 and ::1).
        #[arg(long)]
        tls: bool,
        /// With --tls: also put HOST in the certificate (repeatable), e.g. a name the
        /// clients resolve to this machine.
        #[arg(long, value_name = "HOST", requires = "tls")]
        tls_name: Vec<String>,
        /// With --tls or --proxy: write the CA certificate (PEM) here, for clients to trust
        /// (default: a file in the temporary directory, named in the log).
        #[arg(long, value_name = "FILE")]
        tls_ca_out: Option<PathBuf>,
        /// Also run an impersonation proxy on ADDR (IP:PORT, port 0 picks one): an HTTP
        /// CONNECT proxy that serves the --impersonate hosts from this server over TLS (a
        /// certificate from the generated CA) and refuses every other host with 403. Point
        /// HTTPS_PROXY at it and trust the CA (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE).
        #[arg(long, value_name = "ADDR", value_parser = listen::parse_addr, requires = "impersonate")]
        proxy: Option<SocketAddr>,
        /// With --proxy: the hosts to impersonate, e.g. auth.openai.com,chatgpt.com.
        #[arg(
            long,
            value_name = "HOST[,HOST…]",
            value_delimiter = ',',
            requires = "proxy"
        )]
        impersonate: Vec<String>,
        /// Bearer token for the control API (overrides control.admin_token; required when
        /// listening on a non-loopback address).
        #[arg(
            long,
            env = "FAUXAUTH_ADMIN_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        admin_token: Option<String>,
    },
    /// Load-test token refresh: N agents calling the model API while their tokens expire.
    ///
    /// Runs against an in-process server on 127.0.0.1 (virtual time, `--scale`) unless
    /// `--target` names a running server. Stops by itself after `--duration`, and says PASS,
    /// FAIL (a count above its threshold) or INVALID (the tool itself was saturated).
    /// Exit status: 0 PASS, 2 FAIL, 3 INVALID, 1 the run could not start.
    Load(LoadArgs),
    /// Run scenario files against in-process servers and report like `cargo test`.
    Run(RunArgs),
    /// Print the JSON Schema of scenario files (the source of scenarios/scenario.schema.json).
    ScenarioSchema,
    /// Print a shell completion script, e.g. `fauxauth completions bash > ~/.local/share/bash-completion/completions/fauxauth`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `fauxauth man > fauxauth.1 && man ./fauxauth.1`.
    Man,
}

/// `--flow`: spelled as grant types are in the files (`authorization_code`); the kebab-case
/// spelling is accepted too.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FlowArg {
    /// Authorization code + PKCE with refresh tokens.
    #[value(name = "authorization_code", alias = "authorization-code")]
    AuthorizationCode,
    /// Client credentials (no refresh token: renewal is a new grant).
    #[value(name = "client_credentials", alias = "client-credentials")]
    ClientCredentials,
}

impl From<FlowArg> for loadtest::LoadFlow {
    fn from(flow: FlowArg) -> Self {
        match flow {
            FlowArg::AuthorizationCode => Self::AuthorizationCode,
            FlowArg::ClientCredentials => Self::ClientCredentials,
        }
    }
}

/// `--transport`: how agents reach the in-process server.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    /// Straight into the server's router: every server layer, no socket, no HTTP/1 framing
    /// (the default in-process).
    InMemory,
    /// HTTP/1.1 over loopback TCP (the only choice with --target).
    Tcp,
}

impl From<TransportArg> for loadtest::LoadTransport {
    fn from(transport: TransportArg) -> Self {
        match transport {
            TransportArg::InMemory => Self::InMemory,
            TransportArg::Tcp => Self::Tcp,
        }
    }
}

/// `--refresh`: spelled as in the files (`single_flight`); `single-flight` is accepted too.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RefreshArg {
    /// One refresh per session at a time; concurrent callers wait for it.
    #[value(name = "single_flight", alias = "single-flight")]
    SingleFlight,
    /// Every caller that finds the token due refreshes with the refresh token it saw.
    Naive,
    /// Never renew: calls go on with the expired token.
    None,
}

impl From<RefreshArg> for loadtest::RefreshMode {
    fn from(mode: RefreshArg) -> Self {
        match mode {
            RefreshArg::SingleFlight => Self::SingleFlight,
            RefreshArg::Naive => Self::Naive,
            RefreshArg::None => Self::None,
        }
    }
}

/// `--alg`: the JOSE names, as `signing_alg` takes them in the config file.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA-2048).
    #[value(name = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<AlgArg> for SigningAlg {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Rs256 => Self::RS256,
            AlgArg::Es256 => Self::ES256,
            AlgArg::EdDsa => Self::EdDSA,
        }
    }
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    paths: Vec<PathBuf>,
    /// Scenarios run at once (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Only scenarios whose name or file name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a JSON report (with every event) here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write a self-contained HTML report here: the verdict, each scenario's steps and
    /// expectations, and its timeline on the virtual clock.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Simulated agents (each a token session).
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// How long to run (real time), e.g. 30s (durations as in the files: 1h30m, not 1.5h).
    #[arg(long, default_value = "30s", value_parser = fauxauth_server::duration::parse_duration)]
    duration: std::time::Duration,
    /// Model API calls per agent per second (real time).
    #[arg(long, default_value_t = 0.1)]
    rate: f64,
    /// Concurrent API calls per agent at each tick (naive refresh races need ≥ 2).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Grant the agents use.
    #[arg(long, value_enum, default_value_t = FlowArg::AuthorizationCode)]
    flow: FlowArg,
    /// How sessions renew their access tokens.
    #[arg(long, value_enum, default_value_t = RefreshArg::SingleFlight)]
    refresh: RefreshArg,
    /// Renew this long (virtual time) before expiry; 0s renews only once expired. Must be
    /// shorter than the access-token lifetime.
    #[arg(long, default_value = "5m", value_parser = fauxauth_server::duration::parse_duration)]
    buffer: std::time::Duration,
    /// Do not stagger logins and renewals: every token expires at once (a refresh storm).
    #[arg(long)]
    no_jitter: bool,
    /// Virtual seconds per real second (in-process server; default 120). The run slows it
    /// while the tool's own queueing would age tokens (see --fixed-scale).
    #[arg(long)]
    scale: Option<f64>,
    /// Keep virtual time at --scale even when the tool's queueing ages tokens (the run is
    /// then INVALID rather than slowed).
    #[arg(long)]
    fixed_scale: bool,
    /// FAIL when more API calls than this are made with an expired token.
    #[arg(long, value_name = "N")]
    max_expired_token_calls: Option<u64>,
    /// FAIL when more sessions than this are lost (refresh token refused).
    #[arg(long, value_name = "N")]
    max_sessions_lost: Option<u64>,
    /// FAIL when more refresh grants than this resend an already-sent refresh token.
    #[arg(long, value_name = "N")]
    max_duplicate_refreshes: Option<u64>,
    /// Access-token lifetime of the in-process server (default 20m). With --target the
    /// lifetime is read from the server's token responses (expires_in).
    #[arg(long, value_parser = fauxauth_server::duration::parse_duration)]
    access_ttl: Option<std::time::Duration>,
    /// Signing algorithm of the in-process server (default ES256).
    #[arg(long, value_enum)]
    alg: Option<AlgArg>,
    /// Configuration file of the in-process server.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Load a running server at this http:// or https:// URL instead (correctness judged from
    /// the client side). Only this origin is contacted: a discovery document naming endpoints
    /// elsewhere is refused.
    #[arg(long)]
    target: Option<url::Url>,
    /// PID of the --target server, to report its RSS (by default, for a loopback target, the
    /// process listening on its port, when this user can see it).
    #[arg(long)]
    server_pid: Option<u32>,
    /// How agents reach the in-process server: in-memory (default: its router called
    /// directly, so the CPU goes to the token logic) or tcp (HTTP/1.1 over loopback, the
    /// kernel and both HTTP stacks included). With --target, always tcp.
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Shared HTTP clients (connection pools) the agents are spread over; in-memory, each is
    /// a cap of --max-in-flight requests.
    #[arg(long, default_value_t = 4)]
    pools: usize,
    /// Requests in flight per pool. Over tcp each slot keeps a connection (client and
    /// in-process server side, tens of KiB each): 4 × 64 kept a 2-core machine as busy as
    /// 4 × 256 did, in 80 MiB less (docs/BENCHMARKS.md, "Capacity").
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with plots here.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> std::process::ExitCode {
    match run_cli(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {}", describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause only where the message before it does not
/// already say it (library errors often end with their cause's text).
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

fn run_cli(cli: Cli) -> anyhow::Result<()> {
    // The commands that only print something about the CLI need no logs and no runtime.
    match cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fauxauth", &mut script);
            return print_bytes(&script).context("cannot write the completion script");
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .context("cannot render the man page")?;
            return print_bytes(&page).context("cannot write the man page");
        }
        _ => {}
    }
    // `run` prints a report on stdout and `load` draws a progress bar on stderr: the servers
    // they start log only warnings by default.
    let default_filter = match cli.command {
        Command::Run(_) | Command::Load(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and CI output stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Load(args) => {
            let result = runtime.block_on(run_load(args));
            // A run against a target that never answers may leave requests behind (cut off
            // at the end of the run): do not wait for them.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            let status = result?;
            if status != 0 {
                // FAIL or INVALID: the report is printed; the status says which.
                std::process::exit(i32::from(status));
            }
            Ok(())
        }
        Command::Serve {
            config,
            addr,
            issuer,
            events,
            event_capacity,
            tls,
            tls_name,
            tls_ca_out,
            proxy,
            impersonate,
            admin_token,
        } => runtime.block_on(serve(ServeArgs {
            config,
            addr,
            issuer,
            events,
            event_capacity,
            tls: tls.then_some(TlsConfig {
                extra_names: tls_name,
            }),
            ca_out: tls_ca_out,
            proxy: proxy.map(|addr| ProxyConfig::new(impersonate).addr(addr)),
            admin_token,
        })),
        Command::Run(args) => {
            let passed = runtime.block_on(run(args))?;
            // Scenarios may leave hung connections behind (the `hang` fault): do not wait.
            runtime.shutdown_background();
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::ScenarioSchema => {
            print!("{}", fauxauth_conformance::scenario::schema_json());
            Ok(())
        }
        // Handled above, before the runtime.
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// Write to stdout; a reader that stops early (`fauxauth man | head`) is not an error.
fn print_bytes(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The exit status a `load` run asks for (0 PASS, 2 FAIL, 3 INVALID).
async fn run_load(args: LoadArgs) -> anyhow::Result<u8> {
    let refresh: loadtest::RefreshMode = args.refresh.into();
    let defaults = loadtest::Thresholds::for_mode(refresh);
    let thresholds = loadtest::Thresholds {
        max_expired_token_calls: args
            .max_expired_token_calls
            .unwrap_or(defaults.max_expired_token_calls),
        max_sessions_lost: args.max_sessions_lost.unwrap_or(defaults.max_sessions_lost),
        max_duplicate_refreshes: args
            .max_duplicate_refreshes
            .unwrap_or(defaults.max_duplicate_refreshes),
    };
    let options = loadtest::LoadOptions {
        agents: args.agents,
        duration: args.duration,
        rate: args.rate,
        concurrency: args.concurrency,
        flow: args.flow.into(),
        refresh,
        buffer: args.buffer,
        jitter: !args.no_jitter,
        scale: args.scale,
        adaptive_scale: !args.fixed_scale,
        access_ttl: args.access_ttl,
        alg: args.alg.map(Into::into),
        config: args.config,
        target: args.target,
        server_pid: args.server_pid,
        transport: args.transport.map(Into::into),
        pools: args.pools,
        max_in_flight: args.max_in_flight,
        progress: !args.quiet,
        thresholds,
        command: std::env::args().collect(),
    };
    let report = loadtest::run(options).await?;
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        loadtest::write_json(&report, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        loadtest::write_html(&report, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report.json.verdict.status.exit_code())
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    use fauxauth_conformance::report;
    use fauxauth_conformance::scenario::{RunOptions, run_paths_with};
    use std::io::Write as _;

    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths
    };
    let mut options = RunOptions {
        filter: args.filter,
        ..RunOptions::default()
    };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    println!("\nrunning scenarios from {}", display_paths(&paths));
    let report = run_paths_with(&paths, &options, |result| {
        println!("{}", report::terminal::result_line(result));
        let _ = std::io::stdout().flush();
    })
    .await?;
    print!("{}", report::terminal::failures(&report));
    print!("{}", report::terminal::summary(&report));
    if let Some(path) = &args.junit {
        let xml = report::junit::render(&report).context("cannot render the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let json = report::json::render(&report).context("cannot render the JSON report")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        let info = report::html::RunInfo {
            command: command_line(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            finished: std::time::SystemTime::now(),
        };
        let html = report::html::render(&report, &info).context("cannot render the HTML report")?;
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report.passed())
}

/// The command line as typed, for the HTML report (`fauxauth run ...`; arguments with spaces
/// quoted).
fn command_line() -> String {
    std::iter::once("fauxauth".to_owned())
        .chain(std::env::args().skip(1).map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `fauxauth serve` was asked for.
struct ServeArgs {
    config: Option<PathBuf>,
    addr: SocketAddr,
    issuer: Option<String>,
    events: Option<PathBuf>,
    event_capacity: usize,
    /// `None` for plain HTTP, else HTTPS with this certificate configuration.
    tls: Option<TlsConfig>,
    /// Where to write the CA (with TLS or the proxy; default: a file in the temporary
    /// directory).
    ca_out: Option<PathBuf>,
    /// The impersonation proxy, if any.
    proxy: Option<ProxyConfig>,
    admin_token: Option<String>,
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        config,
        addr,
        issuer,
        events,
        event_capacity,
        tls,
        ca_out,
        proxy,
        admin_token,
    } = args;
    anyhow::ensure!(event_capacity > 0, "--event-capacity must be at least 1");
    anyhow::ensure!(
        ca_out.is_none() || tls.is_some() || proxy.is_some(),
        "--tls-ca-out needs --tls or --proxy (there is no CA otherwise)"
    );
    let mut config = match &config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    if issuer.is_some() {
        // Checked with the rest of the configuration when the server starts.
        config.issuer = issuer;
    }
    if let Some(token) = admin_token {
        anyhow::ensure!(!token.trim().is_empty(), "--admin-token is empty");
        config.control.admin_token = Some(token);
    }
    let mut builder = MockServer::builder()
        .config(config)
        .addr(addr)
        .clock(Clock::virtual_now())
        .events_capacity(event_capacity);
    if let Some(path) = events {
        builder = builder.events_file(path);
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy);
    }
    let server = builder.start().await?;
    if let Some(pem) = server.ca_pem() {
        let path = ca_out.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("fauxauth-ca-{}.pem", server.addr().port()))
        });
        std::fs::write(&path, pem)
            .with_context(|| format!("cannot write the CA certificate to {}", path.display()))?;
        tracing::info!(ca = %path.display(), "trust this CA certificate");
    }
    if let Some(warning) = listen::issuer_warning(server.addr(), server.url()) {
        eprintln!("{warning}");
    }
    // Listen for signals before announcing readiness, then print exactly one line on stdout.
    let stop = shutdown_signal();
    if let Some(proxy) = server.proxy_url() {
        println!("fauxauth proxy on {proxy}");
    }
    println!("fauxauth listening on {scheme}://{}", server.addr());
    stop.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Install the SIGINT/SIGTERM handlers now (before the ready line is printed, so a signal
/// sent right after it is never missed) and return a future that resolves on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
