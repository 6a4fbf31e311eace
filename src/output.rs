//! Writing to standard output and error: a closed pipe (`ward ... | head`)
//! is not an error, it just ends the output.

use std::io::{self, Write};

/// Writes to stdout; returns false once the reader has gone away.
pub fn out(text: &str) -> bool {
    write(&mut io::stdout().lock(), text)
}

pub fn err(text: &str) -> bool {
    write(&mut io::stderr().lock(), text)
}

fn write(w: &mut dyn Write, text: &str) -> bool {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
        Err(_) => false,
    }
}

/// Writes a line to stdout.
pub fn outln(text: &str) -> bool {
    out(&format!("{text}\n"))
}
