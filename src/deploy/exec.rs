//! The one executor: runs a [`Plan`] against a [`System`], skipping steps whose
//! guard says they are done, and undoing completed steps in reverse when one
//! fails. May touch: the system, only through the `System` it is given.

use super::command::{Action, Cmd, Guard, Plan};
use std::path::{Path, PathBuf};

/// What running a command gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    /// What it said: its stderr, or its stdout when stderr is empty, or
    /// its exit status when it said nothing.
    pub said: String,
}

/// The machine the executor acts on: the real one ([`RealSystem`]) or a
/// recorder in tests (`FakeHost` in `deploy/fake.rs`).
pub trait System {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<Outcome>;
    fn read_file(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>>;
    /// Writes a file, creating missing parent directories.
    fn write_file(&mut self, path: &Path, content: &[u8], mode: u32) -> std::io::Result<()>;
    /// Removes a file; absent is fine.
    fn remove_file(&mut self, path: &Path) -> std::io::Result<()>;
}

/// Why a command failed, as it said: its stderr; else its stdout (vtysh
/// prints its errors there); else its exit status.
fn what_it_said(out: &std::process::Output) -> String {
    [&out.stderr, &out.stdout]
        .into_iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| out.status.to_string())
}

/// The real machine: `std::process::Command` with an argv, never a shell.
#[derive(Debug, Default)]
pub struct RealSystem;

impl System for RealSystem {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<Outcome> {
        tracing::info!(command = %cmd, "run");
        let out = std::process::Command::new(cmd.program)
            .args(&cmd.args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(Outcome {
            success: out.status.success(),
            said: what_it_said(&out),
        })
    }

    fn read_file(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_file(&mut self, path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
        tracing::info!(path = %path.display(), "write");
        write_atomic(path, content, mode)
    }

    fn remove_file(&mut self, path: &Path) -> std::io::Result<()> {
        tracing::info!(path = %path.display(), "remove");
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Runs a command that only reads (a health check, `vtysh -c 'show ...'`)
/// and returns whether it succeeded and its standard output. Changes to the
/// system never go through here: they are steps of a [`Plan`].
pub fn query(cmd: &Cmd) -> std::io::Result<(bool, String)> {
    tracing::debug!(command = %cmd, "query");
    let out = std::process::Command::new(cmd.program)
        .args(&cmd.args)
        .stdin(std::process::Stdio::null())
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Writes `content` to `path` with permission bits `mode`, atomically: into
/// a temporary file beside it that is created private (0600) — so a key is
/// never readable by others, not even for an instant — then given `mode`,
/// flushed, and renamed over `path`. Readers see the old file or the new one.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".vpnjail-tmp");
    let tmp = path.with_file_name(name);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// How a plan ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("step {step} ({what}) failed: {reason}{}", rollback_note(.undo_failures))]
pub struct ExecError {
    /// 1-based step number.
    pub step: usize,
    pub what: String,
    pub reason: String,
    /// Undo commands that themselves failed (the rest were undone).
    pub undo_failures: Vec<String>,
}

fn rollback_note(f: &[String]) -> String {
    if f.is_empty() {
        "; completed steps were undone".into()
    } else {
        format!("; undo also failed for: {}", f.join("; "))
    }
}

/// What happened to each step of a successful run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    Done,
    /// The guard said the work was already done (or there was nothing to do).
    Skipped,
}

/// Undo recorded for a completed step.
enum Undo {
    Cmds(Vec<Cmd>),
    Restore {
        path: PathBuf,
        previous: Option<(Vec<u8>, u32)>,
    },
}

/// Runs a plan. On the first failing step, undoes the completed steps in
/// reverse order and returns the error.
pub fn execute(plan: &Plan, sys: &mut dyn System) -> Result<Vec<StepResult>, ExecError> {
    let mut results = Vec::new();
    let mut done: Vec<Undo> = Vec::new();
    for (i, st) in plan.steps.iter().enumerate() {
        let fail = |reason: String, sys: &mut dyn System, done: Vec<Undo>| {
            let undo_failures = rollback(sys, done);
            ExecError {
                step: i + 1,
                what: st.what.clone(),
                reason,
                undo_failures,
            }
        };
        let needed = match &st.guard {
            Guard::Always => Ok(true),
            Guard::UnlessOk(c) => sys.run(c).map(|o| !o.success),
            Guard::IfOk(c) => sys.run(c).map(|o| o.success),
        };
        let needed = match needed {
            Ok(n) => n,
            Err(e) => return Err(fail(format!("cannot run the guard: {e}"), sys, done)),
        };
        if !needed {
            results.push(StepResult::Skipped);
            continue;
        }
        let r: Result<Option<Undo>, String> = match &st.action {
            Action::Run(c) | Action::Check(c) => match sys.run(c) {
                Ok(o) if o.success => Ok(Some(Undo::Cmds(st.undo.clone()))),
                Ok(o) => Err(format!("{c} exited with an error: {}", o.said)),
                Err(e) => Err(format!("cannot run {c}: {e}")),
            },
            Action::Write {
                path,
                mode,
                content,
            } => match sys.read_file(path) {
                Ok(Some(old)) if old == content.as_bytes() => {
                    results.push(StepResult::Skipped);
                    continue;
                }
                Ok(old) => match sys.write_file(path, content.as_bytes(), *mode) {
                    Ok(()) => Ok(Some(Undo::Restore {
                        path: path.clone(),
                        // Same mode as the new file: never widen a key file's permissions.
                        previous: old.map(|o| (o, *mode)),
                    })),
                    Err(e) => Err(format!("cannot write {}: {e}", path.display())),
                },
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            },
            Action::Remove { path } => match sys.read_file(path) {
                Ok(None) => {
                    results.push(StepResult::Skipped);
                    continue;
                }
                Ok(Some(old)) => match sys.remove_file(path) {
                    Ok(()) => Ok(Some(Undo::Restore {
                        path: path.clone(),
                        // The old mode is unknown: restore it private.
                        previous: Some((old, 0o600)),
                    })),
                    Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
                },
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            },
        };
        match r {
            Ok(u) => {
                done.extend(u);
                results.push(StepResult::Done);
            }
            Err(reason) => return Err(fail(reason, sys, done)),
        }
    }
    Ok(results)
}

fn rollback(sys: &mut dyn System, done: Vec<Undo>) -> Vec<String> {
    let mut failures = Vec::new();
    for u in done.into_iter().rev() {
        match u {
            Undo::Cmds(cmds) => {
                for c in cmds {
                    match sys.run(&c) {
                        Ok(o) if o.success => {}
                        Ok(o) => failures.push(format!("{c}: {}", o.said)),
                        Err(e) => failures.push(format!("{c}: {e}")),
                    }
                }
            }
            Undo::Restore { path, previous } => {
                let r = match previous {
                    Some((content, mode)) => sys.write_file(&path, &content, mode),
                    None => sys.remove_file(&path),
                };
                if let Err(e) = r {
                    failures.push(format!("restore {}: {e}", path.display()));
                }
            }
        }
    }
    failures
}

#[cfg(test)]
mod write_tests {
    use super::write_atomic;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_atomically_with_the_mode_asked() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("etc/swanctl/swanctl.conf");
        write_atomic(&key, b"secret", 0o600).unwrap();
        write_atomic(&key, b"secret 2", 0o600).unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"secret 2");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let script = dir.path().join("rc.d/vpndns");
        write_atomic(&script, b"#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(
            std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let left: Vec<_> = std::fs::read_dir(key.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}

#[cfg(test)]
mod said_tests {
    use super::*;

    fn said(args: &[&str]) -> String {
        let c = Cmd::new("sh", args.iter().copied());
        let o = RealSystem.run(&c).unwrap();
        assert!(!o.success);
        o.said
    }

    #[test]
    fn a_failure_is_told_by_stderr_else_stdout_else_its_status() {
        assert_eq!(said(&["-c", "echo out; echo err >&2; exit 1"]), "err");
        assert_eq!(
            said(&["-c", "echo '% Unknown command'; exit 1"]),
            "% Unknown command"
        );
        assert_eq!(said(&["-c", "exit 3"]), "exit status: 3");
    }
}
