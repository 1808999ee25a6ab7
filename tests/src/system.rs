//! The whole system on one machine: two reference origins (`us`, `eu`) and
//! the edge Worker under real `wrangler dev`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use origin_adapter::keys::SigningKey;

use crate::process::{Supervised, free_port, wait_for_line, wait_until_healthy};
use crate::workspace::Workspace;

/// The regions the reference deployment runs.
pub const REGIONS: [&str; 2] = ["us", "eu"];

/// How long a fresh `wrangler dev` may take to answer (it is ~10 s here).
const EDGE_START_DEADLINE: Duration = Duration::from_secs(90);

pub struct SystemOptions {
    /// Echo every process's output to stderr, prefixed with its name.
    pub echo: bool,
    /// `None` picks a free port.
    pub edge_port: Option<u16>,
    /// Ports of the `us` and `eu` origins; 0 lets each pick a free one.
    pub origin_ports: [u16; 2],
    /// Where origins keep SQLite and the edge its Durable Object state;
    /// `None` uses a scratch directory removed when the system stops.
    pub state_dir: Option<PathBuf>,
    /// The edge's signing key. `None` generates one and hands it to wrangler
    /// through a private env file, so a developer's `.dev.vars` is not read.
    pub signing_key: Option<SigningKey>,
    /// Serve the origins' test-only introspection routes.
    pub test_hooks: bool,
    /// The cargo profile directory holding the `reference-origin` binary.
    pub origin_profile: String,
    /// Extra `--var KEY:VALUE` settings for the edge.
    pub edge_vars: Vec<(String, String)>,
    /// The Cache-Control the origins put on catalog answers (`None`: their default).
    pub origin_cache_control: Option<String>,
    /// Start the edge under `wrangler dev`; `false` starts only the origins
    /// (a benchmark serves the edge with bare workerd from [`System::edge_env`]).
    pub serve_edge: bool,
}

impl Default for SystemOptions {
    fn default() -> Self {
        Self {
            echo: std::env::var_os("E2E_ECHO").is_some(),
            edge_port: None,
            origin_ports: [0, 0],
            state_dir: None,
            signing_key: None,
            test_hooks: true,
            origin_profile: "debug".into(),
            edge_vars: Vec::new(),
            origin_cache_control: None,
            serve_edge: true,
        }
    }
}

/// One reference origin, running unless stopped by a test.
pub struct Origin {
    pub region: String,
    pub url: String,
    command: Vec<String>,
    process: Option<Supervised>,
}

/// A running system. Dropping it stops every process it started.
pub struct System {
    pub edge_url: String,
    pub origins: Vec<Origin>,
    pub signing_key: SigningKey,
    /// The origins' own key, with which they sign purges to the edge.
    pub origin_key: SigningKey,
    /// The back-office bearer token of the origins, and the edge's
    /// `ADMIN_TOKEN` (support and admin APIs) when secrets are generated.
    pub admin_token: String,
    /// The edge's vars and (generated) secrets as wrangler gets them, for
    /// a runtime started some other way.
    pub edge_env: Vec<(String, String)>,
    /// The edge last, so it stops before the origins it talks to.
    edge: Option<Supervised>,
    edge_command: Vec<String>,
    echo: bool,
    origin_profile: String,
    ws: Workspace,
    state_dir: PathBuf,
    _scratch: Option<tempfile::TempDir>,
}

fn random_bytes() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(seed)
}

fn spawn_origin(
    bin: &std::path::Path,
    region: &str,
    args: &[String],
    echo: bool,
) -> Result<(Supervised, String)> {
    let mut command = Command::new(bin);
    command.args(args);
    let name = format!("origin-{region}");
    let (mut process, lines) = Supervised::spawn(&name, command, echo)?;
    let url = wait_for_line(
        &lines,
        Duration::from_secs(30),
        &format!("{name} to listen"),
        |line| line.split("listening on ").nth(1).map(str::to_owned),
    )?;
    wait_until_healthy(
        &mut process,
        &format!("{url}/healthz"),
        Duration::from_secs(10),
    )?;
    Ok((process, url))
}

impl System {
    pub fn start(options: SystemOptions) -> Result<Self> {
        let ws = Workspace::here();
        let objects = ws.root.join("durable-objects/build/index.js");
        if let Some(bundle) = [ws.worker_bundle(), objects]
            .into_iter()
            .find(|b| !b.exists())
        {
            bail!(
                "{} is missing: build the Worker first (`cargo xtask build`)",
                bundle.display()
            );
        }
        let origin_bin = ws.origin_binary(&options.origin_profile);
        if !origin_bin.exists() {
            bail!(
                "{} is missing: `cargo build -p reference-origin` first",
                origin_bin.display()
            );
        }
        let scratch = match &options.state_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("storefront-e2e-")
                    .tempdir()?,
            ),
        };
        let state_dir = match (&options.state_dir, &scratch) {
            (Some(dir), _) => dir.clone(),
            (None, Some(t)) => t.path().to_path_buf(),
            (None, None) => unreachable!("one of the two is set"),
        };
        std::fs::create_dir_all(&state_dir)?;

        let generated = options.signing_key.is_none();
        let signing_key = match options.signing_key {
            Some(k) => k,
            None => SigningKey::from_seed("edge-test", random_bytes()?),
        };
        let public = signing_key.verifying_entry().to_config();
        let origin_key = SigningKey::from_seed("origin-1", random_bytes()?);
        let admin_token = hex(&random_bytes()?);
        let edge_port = match options.edge_port {
            Some(p) => p,
            None => free_port()?,
        };
        let edge_url = format!("http://127.0.0.1:{edge_port}");

        let mut origins = Vec::new();
        for (region, port) in REGIONS.iter().zip(options.origin_ports) {
            let mut args: Vec<String> = vec![
                "--region".into(),
                (*region).into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data".into(),
                state_dir
                    .join(format!("origin-{region}.sqlite3"))
                    .display()
                    .to_string(),
                "--edge-keys".into(),
                public.clone(),
                "--admin-token".into(),
                admin_token.clone(),
                "--origin-signing-key".into(),
                origin_key.to_config(),
                "--edge-purge-url".into(),
                format!("{edge_url}/api/purge"),
            ];
            if let Some(cc) = &options.origin_cache_control {
                args.push("--catalog-cache-control".into());
                args.push(cc.clone());
            }
            if options.test_hooks {
                args.push("--test-hooks".into());
            }
            let (process, url) = spawn_origin(&origin_bin, region, &args, options.echo)?;
            // A restart must come back on the same port.
            let listen = args.iter().position(|a| a == "--listen").map(|i| i + 1);
            if let Some(i) = listen {
                args[i] = url.trim_start_matches("http://").to_owned();
            }
            origins.push(Origin {
                region: (*region).to_owned(),
                url,
                command: args,
                process: Some(process),
            });
        }

        let origins_var = origins
            .iter()
            .map(|o| format!("{}={}", o.region, o.url))
            .collect::<Vec<_>>()
            .join(",");
        let objects_toml = objects_config(&ws, &state_dir, &signing_key)?;
        let mut args: Vec<String> = vec![
            ws.wrangler_js().display().to_string(),
            "dev".into(),
            "--config".into(),
            ws.wrangler_toml().display().to_string(),
            // The objects Worker, beside the edge in the same session.
            "--config".into(),
            objects_toml.display().to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            edge_port.to_string(),
            "--inspector-port".into(),
            free_port()?.to_string(),
            "--persist-to".into(),
            state_dir.join("wrangler").display().to_string(),
            "--show-interactive-dev-session=false".into(),
        ];
        let mut vars = vec![
            ("ENVIRONMENT".to_owned(), "development".to_owned()),
            ("ORIGINS".to_owned(), origins_var),
            ("DEFAULT_REGION".to_owned(), "us".to_owned()),
            (
                "ORIGIN_VERIFY_KEYS".to_owned(),
                origin_key.verifying_entry().to_config(),
            ),
        ];
        vars.extend(options.edge_vars);
        let mut edge_env = vars.clone();
        for (k, v) in vars {
            args.push("--var".into());
            args.push(format!("{k}:{v}"));
        }
        if generated {
            let env_file = state_dir.join("edge-secrets.env");
            let session_key = random_session_key()?;
            write_secrets(&env_file, &signing_key, &session_key, &admin_token, None)?;
            edge_env.extend([
                ("EDGE_SIGNING_KEY".to_owned(), signing_key.to_config()),
                ("SESSION_KEY".to_owned(), session_key),
                ("ADMIN_TOKEN".to_owned(), admin_token.clone()),
            ]);
            args.push("--env-file".into());
            args.push(env_file.display().to_string());
        }

        let mut system = System {
            edge_url,
            origins,
            signing_key,
            origin_key,
            admin_token,
            edge_env,
            edge: None,
            edge_command: args,
            echo: options.echo,
            origin_profile: options.origin_profile,
            ws,
            state_dir,
            _scratch: scratch,
        };
        if options.serve_edge {
            system.start_edge()?;
        }
        Ok(system)
    }

    fn start_edge(&mut self) -> Result<()> {
        let mut command = Command::new(self.ws.node());
        command
            .args(&self.edge_command)
            .current_dir(&self.ws.root)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .env("WRANGLER_LOG_PATH", self.state_dir.join("wrangler-logs"));
        let (mut process, _lines) = Supervised::spawn("wrangler", command, self.echo)?;
        wait_until_healthy(
            &mut process,
            &format!("{}/healthz", self.edge_url),
            EDGE_START_DEADLINE,
        )
        .context("starting wrangler dev (run with E2E_ECHO=1 to see its output)")?;
        self.edge = Some(process);
        Ok(())
    }

    /// Rotates the session key as an operator would (the old key becomes a
    /// previous key) and restarts the edge. Only for generated secrets.
    pub fn rotate_session_key(&mut self) -> Result<()> {
        let path = self.state_dir.join("edge-secrets.env");
        let current = std::fs::read_to_string(&path)
            .context("this system's secrets are not generated")?
            .lines()
            .find_map(|l| l.strip_prefix("SESSION_KEY=").map(str::to_owned))
            .context("no SESSION_KEY to rotate")?;
        write_secrets(
            &path,
            &self.signing_key,
            &random_session_key()?,
            &self.admin_token,
            Some(&current),
        )?;
        self.restart_edge()
    }

    /// Stops `wrangler dev` and starts it again on the same port and state.
    pub fn restart_edge(&mut self) -> Result<()> {
        if let Some(mut edge) = self.edge.take() {
            edge.stop();
        }
        self.start_edge()
    }

    /// Stops a region's origin (its connections are then refused).
    pub fn stop_origin(&mut self, region: &str) {
        if let Some(origin) = self.origins.iter_mut().find(|o| o.region == region)
            && let Some(mut process) = origin.process.take()
        {
            process.stop();
        }
    }

    /// Starts a stopped origin again, on the same port and data.
    pub fn start_origin(&mut self, region: &str) -> Result<()> {
        let bin = self.ws.origin_binary(&self.origin_profile);
        let echo = self.echo;
        let Some(origin) = self.origins.iter_mut().find(|o| o.region == region) else {
            bail!("no origin for region {region}");
        };
        if origin.process.is_none() {
            let (process, _) = spawn_origin(&bin, region, &origin.command, echo)?;
            origin.process = Some(process);
        }
        Ok(())
    }

    /// What the edge (wrangler dev and workerd) logged containing `needle`.
    pub fn edge_log_with(&self, needle: &str) -> Vec<String> {
        self.edge
            .as_ref()
            .map(|e| e.log_lines_with(needle))
            .unwrap_or_default()
    }

    /// What a region's origin logged containing `needle`.
    pub fn origin_log_with(&self, region: &str, needle: &str) -> Vec<String> {
        self.origins
            .iter()
            .find(|o| o.region == region)
            .and_then(|o| o.process.as_ref())
            .map(|p| p.log_lines_with(needle))
            .unwrap_or_default()
    }

    pub fn origin_url(&self, region: &str) -> Option<&str> {
        self.origins
            .iter()
            .find(|o| o.region == region)
            .map(|o| o.url.as_str())
    }

    /// Blocks until the edge process exits (for `cargo xtask dev`).
    pub fn edge_exited(&mut self) -> bool {
        self.edge.as_mut().is_none_or(|e| e.exited().is_some())
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // Edge first, then origins (fields drop in declaration order after this).
        if let Some(mut edge) = self.edge.take() {
            edge.stop();
        }
    }
}

fn random_session_key() -> Result<String> {
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        random_bytes()?,
    ))
}

/// The `storefront-objects` Worker's config for this system: the
/// repository's, its entry named by absolute path, in `state_dir/objects/`
/// beside a `.dev.vars` with this system's signing key (wrangler gives
/// `--env-file` and `--var` to the first Worker only; a second reads the
/// `.dev.vars` next to its config).
fn objects_config(
    ws: &Workspace,
    state_dir: &std::path::Path,
    signing: &SigningKey,
) -> Result<PathBuf> {
    let dir = state_dir.join("objects");
    std::fs::create_dir_all(&dir)?;
    let source = ws.objects_toml();
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("reading {}", source.display()))?;
    let main = "main = \"entry.mjs\"";
    if !text.contains(main) {
        bail!("{} no longer says `{main}`", source.display());
    }
    let entry = ws.root.join("durable-objects/entry.mjs");
    let text = text.replace(main, &format!("main = {:?}", entry.display().to_string()));
    let config = dir.join("wrangler.toml");
    std::fs::write(&config, text)?;
    std::fs::write(
        dir.join(".dev.vars"),
        format!("EDGE_SIGNING_KEY={}\n", signing.to_config()),
    )?;
    Ok(config)
}

/// The edge's secrets for `wrangler dev --env-file`.
fn write_secrets(
    path: &std::path::Path,
    signing: &SigningKey,
    session: &str,
    admin: &str,
    previous: Option<&str>,
) -> Result<()> {
    let mut text = format!(
        "EDGE_SIGNING_KEY={}\nSESSION_KEY={session}\nADMIN_TOKEN={admin}\n",
        signing.to_config()
    );
    if let Some(previous) = previous {
        text.push_str(&format!("SESSION_PREVIOUS_KEYS={previous}\n"));
    }
    std::fs::write(path, text)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
