//! Child processes that cannot outlive their owner.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Process groups started and not yet stopped, so a signal handler can end
/// them when the owner is interrupted before its destructors run.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn track(group: i32, live: bool) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        groups.retain(|g| *g != group);
        if live {
            groups.push(group);
        }
    }
}

/// On Ctrl-C, SIGTERM or SIGHUP: end every live process group, then exit.
/// Children run in their own groups, so the terminal's Ctrl-C does not reach
/// them; without this an interrupted test run would leave them behind.
pub fn stop_children_on_signal() -> Result<()> {
    ctrlc::set_handler(|| {
        let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
        for group in groups {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        std::process::exit(130);
    })
    .context("installing the signal handler")
}

/// A child process in its own process group. Dropping it sends SIGTERM to
/// the whole group (wrangler starts workerd beneath it), waits a little,
/// then SIGKILLs whatever is left.
pub struct Supervised {
    name: String,
    child: Child,
    log: Log,
}

/// Every output line of a process (the latest [`LOG_LINES`]), for tests
/// that check what a process logged.
type Log = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>;
const LOG_LINES: usize = 50_000;

fn remember(log: &Log, line: &str) {
    if let Ok(mut log) = log.lock() {
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line.to_owned());
    }
}

impl Supervised {
    /// Starts `command` in a new process group. Output lines are prefixed
    /// with `name` and echoed to stderr when `echo` is set; every stdout
    /// line is also sent to the returned receiver.
    pub fn spawn(
        name: &str,
        mut command: Command,
        echo: bool,
    ) -> Result<(Self, mpsc::Receiver<String>)> {
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        let (tx, rx) = mpsc::channel();
        let log = Log::default();
        if let Some(out) = child.stdout.take() {
            let (tx, label, log) = (tx.clone(), name.to_owned(), log.clone());
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[{label}] {line}");
                    }
                    remember(&log, &line);
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let (label, log) = (name.to_owned(), log.clone());
            thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[{label}] {line}");
                    }
                    remember(&log, &line);
                    let _ = tx.send(line);
                }
            });
        }
        Ok((
            Self {
                name: name.to_owned(),
                child,
                log,
            },
            rx,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lines the process has printed so far that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .map(|log| log.iter().filter(|l| l.contains(needle)).cloned().collect())
            .unwrap_or_default()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Ends the process group now (what `Drop` does).
    pub fn stop(&mut self) {
        let Ok(raw) = i32::try_from(self.child.id()) else {
            return;
        };
        let group = Pid::from_raw(raw);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Children of the leader (workerd under wrangler) may linger.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
        track(raw, false);
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free TCP port on 127.0.0.1 (for servers that cannot take port 0).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits for a line from `lines` for which `pick` returns a value.
pub fn wait_for_line<T>(
    lines: &mpsc::Receiver<String>,
    deadline: Duration,
    what: &str,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> Result<T> {
    let until = Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(found) = pick(&line) {
                    return Ok(found);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("timed out after {deadline:?} waiting for {what}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("{what}: the process exited first"),
        }
    }
}

/// Polls `url` until it answers 200, the process dies, or `deadline` passes.
pub fn wait_until_healthy(process: &mut Supervised, url: &str, deadline: Duration) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Some(status) = process.exited() {
            bail!(
                "{} exited with {status} before it was ready",
                process.name()
            );
        }
        if client
            .get(url)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "{} did not answer {url} within {deadline:?}",
        process.name()
    )
}
