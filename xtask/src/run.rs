//! Running commands with progress output.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// Prints a step header; returns when it started.
pub fn step(name: &str) -> Instant {
    println!("\n==> {name}");
    Instant::now()
}

pub fn done(started: Instant) {
    println!("    done in {:.1} s", started.elapsed().as_secs_f64());
}

fn describe(command: &Command) -> String {
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        args.join(" ")
    )
}

/// Runs `command` with inherited output; fails on a non-zero exit.
pub fn status(command: &mut Command) -> Result<()> {
    let what = describe(command);
    let status = command
        .status()
        .with_context(|| format!("starting `{what}`"))?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

/// Runs `command`, echoing its stdout and returning it; stderr is inherited.
pub fn tee(command: &mut Command) -> Result<String> {
    let what = describe(command);
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{what}`"))?;
    let mut captured = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            captured.push_str(&line);
            captured.push('\n');
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(captured)
}

/// Runs `command` quietly and returns its stdout, or `None` if it failed.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
