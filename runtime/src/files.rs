//! Reading files that come from outside (policies, lists, zones, modules,
//! configuration, registries) with a size cap that holds while reading.
//! The size the file system reports is not enough: a device such as
//! `/dev/zero` reports 0 bytes and never ends.

use std::io::{self, Read};
use std::path::Path;

/// The whole file at `path`; an error of kind `FileTooLarge` when it is
/// over `max` bytes, whether its reported size says so or the reading
/// does, and of kind `InvalidInput` when it is not a regular file (opening
/// a pipe blocks until someone writes to it, and a device may never end).
pub fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a directory, a device or a pipe)",
        ));
    }
    let file = std::fs::File::open(path)?;
    let reported = file.metadata()?.len();
    if reported > max {
        return Err(too_large(format!(
            "{reported} bytes is over the {max}-byte limit"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(reported).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(format!("over the {max}-byte limit")));
    }
    Ok(bytes)
}

fn too_large(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: readers checked only the size the file system reports,
    /// so `ward serve --list malware=/dev/zero` (0 bytes reported, never
    /// ending) read until memory ran out (3.2 GB in 4 seconds), and so did
    /// `--policy /dev/zero` and `ward check /dev/zero`.
    #[test]
    fn a_file_that_never_ends_is_cut_at_the_cap() {
        // A device is refused before it is opened.
        let err = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "not a regular file (a directory, a device or a pipe)"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        std::fs::write(&path, [b'a'; 1024]).unwrap();
        assert_eq!(read_capped(&path, 1024).unwrap(), [b'a'; 1024]);
        let err = read_capped(&path, 1023).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(err.to_string(), "1024 bytes is over the 1023-byte limit");
        let err = read_capped(&dir.path().join("missing"), 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = read_capped(dir.path(), 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    /// Regression (found by a hostile test): a pipe as a zone, list,
    /// inventory or policy file blocked Ward's start, or its reload thread
    /// for good (after which SIGTERM no longer stopped it).
    #[test]
    fn a_pipe_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_capped(&fifo, 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
