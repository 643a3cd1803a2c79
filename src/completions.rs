//! Shell completion scripts for both binaries (`vpndns completions SHELL`,
//! `vpnjail completions SHELL`), generated from their clap definitions.
//! May touch: standard output only.

use std::io::Write;

/// The shells we write completions for (sh has no completion system).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script for `cmd`, named `bin`, in `shell`'s language.
pub fn script(shell: Shell, cmd: &mut clap::Command, bin: &str) -> Vec<u8> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, bin, &mut out);
    out
}

/// Writes the script to standard output; a reader that closed the pipe
/// early (`| head`) is not an error.
pub fn print(shell: Shell, cmd: &mut clap::Command, bin: &str) -> std::io::Result<()> {
    match std::io::stdout().lock().write_all(&script(shell, cmd, bin)) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
