//! The network private key as a command reads it: the whole of standard input when that is
//! a pipe or a file (`--stdin < network-private-key.txt`), one line at a prompt when it is a
//! terminal, with the echo off so the key does not stay on the screen. (Reading a terminal
//! to its end would wait for a Ctrl-D nobody knows to type.)

use anyhow::Context;
use nix::sys::termios::{self, LocalFlags, SetArg};
use std::io::{BufRead, IsTerminal, Read, Write};

/// The key's text, from standard input. `stdin` (the documented `--stdin`) only drops the
/// prompt: the key comes from standard input either way.
pub(crate) fn read(stdin: bool) -> anyhow::Result<String> {
    let input = std::io::stdin();
    if !input.is_terminal() {
        let mut text = String::new();
        input
            .lock()
            .read_to_string(&mut text)
            .context("reading the network private key from standard input")?;
        return Ok(text);
    }
    if !stdin {
        let _ = write!(std::io::stderr(), "network private key (base64): ");
    }
    let echo = EchoOff::new(&input);
    let line =
        first_line(&mut input.lock()).context("reading the network private key from the terminal");
    drop(echo);
    if !stdin {
        // The Enter that ended the key was not echoed either.
        let _ = writeln!(std::io::stderr());
    }
    line
}

/// One line of `r`, without its end.
fn first_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The terminal's echo, off while this lives (also when reading fails or panics).
struct EchoOff {
    saved: Option<termios::Termios>,
}

impl EchoOff {
    fn new(tty: &std::io::Stdin) -> EchoOff {
        let Ok(saved) = termios::tcgetattr(tty) else {
            return EchoOff { saved: None };
        };
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let on = termios::tcsetattr(tty, SetArg::TCSANOW, &quiet).is_ok();
        EchoOff {
            saved: on.then_some(saved),
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prompt_takes_one_line() {
        let mut input = std::io::Cursor::new("S2V5\r\nwhat follows is not read\n");
        assert_eq!(super::first_line(&mut input).unwrap(), "S2V5");
        let mut input = std::io::Cursor::new("S2V5");
        assert_eq!(super::first_line(&mut input).unwrap(), "S2V5");
    }
}
