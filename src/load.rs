//! Reading a policy bundle from disk: `.ward` files and an optional
//! `ward.toml`, from files and directories the user names.
//!
//! Everything read here comes from outside: sizes are capped, text must be
//! UTF-8, and each problem is a clear message, never a panic.

use std::fmt;
use std::path::{Path, PathBuf};

use ward_lang::{Diagnostic, FileId, SourceMap};

/// The largest policy or config file we read; real ones are kilobytes.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// How deep directories are walked, which also stops symlink loops.
const MAX_DEPTH: usize = 16;

#[derive(Debug)]
pub struct Loaded {
    pub sources: SourceMap,
    pub policy_files: Vec<FileId>,
    pub config: Option<FileId>,
    /// Problems with file contents (too large, not UTF-8), as diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// A path that cannot be used at all.
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.message)
    }
}

pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    let mut configs = Vec::new();
    for path in paths {
        collect(path, 0, true, &mut files, &mut configs)?;
    }
    if configs.len() > 1 {
        let names: Vec<String> = configs
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect();
        return Err(LoadError {
            path: configs.first().cloned().unwrap_or_default(),
            message: format!("a bundle has one `ward.toml`, found {}", names.join(", ")),
        });
    }

    let mut loaded = Loaded {
        sources: SourceMap::new(),
        policy_files: Vec::new(),
        config: None,
        diagnostics: Vec::new(),
    };
    for path in &files {
        if let Some(id) = read(path, &mut loaded)? {
            loaded.policy_files.push(id);
        }
    }
    if let Some(path) = configs.first() {
        loaded.config = read(path, &mut loaded)?;
    }
    Ok(loaded)
}

fn collect(
    path: &Path,
    depth: usize,
    named: bool,
    files: &mut Vec<PathBuf>,
    configs: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let error = |message: String| LoadError {
        path: path.to_owned(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| error(io_message(&e)))?;
    if meta.is_dir() {
        if depth > MAX_DEPTH {
            return Err(error(format!(
                "directories nest more than {MAX_DEPTH} deep"
            )));
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| error(io_message(&e)))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_dir = entry.is_dir();
            let is_policy = entry.extension().is_some_and(|ext| ext == "ward");
            let is_config = depth == 0 && entry.file_name().is_some_and(|n| n == "ward.toml");
            if is_dir || is_policy || is_config {
                collect(&entry, depth + 1, false, files, configs)?;
            }
        }
        return Ok(());
    }
    if path.file_name().is_some_and(|n| n == "ward.toml") {
        configs.push(path.to_owned());
    } else if named || path.extension().is_some_and(|ext| ext == "ward") {
        files.push(path.to_owned());
    }
    Ok(())
}

/// Reads one file into the source map; a file whose content is unusable
/// becomes a diagnostic and `None`.
fn read(path: &Path, loaded: &mut Loaded) -> Result<Option<FileId>, LoadError> {
    let error = |message: String| LoadError {
        path: path.to_owned(),
        message,
    };
    let name = path.display().to_string();
    // The cap holds while reading too: a device such as `/dev/zero`
    // reports 0 bytes and never ends.
    let bytes = match ward_runtime::files::read_capped(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            loaded.diagnostics.push(
                Diagnostic::error("file-too-large", format!("`{name}` is too large: {e}"))
                    .help("policy files are text of a few kilobytes; is this the right file?"),
            );
            return Ok(None);
        }
        Err(e) => return Err(error(io_message(&e))),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(loaded.sources.add(name, text))),
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            loaded.diagnostics.push(
                Diagnostic::error(
                    "not-utf8",
                    format!("`{name}` is not UTF-8 text (invalid byte at offset {at})"),
                )
                .help("policy files are UTF-8 text; is this a binary file?"),
            );
            Ok(None)
        }
    }
}

fn io_message(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    }
}
