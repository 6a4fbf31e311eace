//! The precompiled-module cache: compiled code on disk, keyed by the
//! module's SHA-256 and the engine's compatibility hash (wasmtime version,
//! target, and every setting that changes code), so a restart loads in
//! milliseconds instead of recompiling.
//!
//! Loading precompiled code is `unsafe` in wasmtime because the bytes are
//! machine code that is trusted, not validated. It holds here because:
//! the cache directory is created by us with mode 0700 and refused if
//! anyone but its owner can write it; an entry is only ever written by
//! [`ModuleCache::put`] from `Module::serialize` of a module this engine
//! compiled; entries are written to a temporary name and renamed, so a
//! reader never sees half a file; and wasmtime itself refuses an artifact
//! made by another version or configuration.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::LoadError;
use super::module::hex;

#[derive(Debug)]
pub struct ModuleCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256, for a key stable across runs.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ModuleCache {
    /// Opens (creating if needed) the cache directory, refusing one that
    /// others can write.
    pub fn open(dir: &Path) -> Result<ModuleCache, LoadError> {
        let error = |message: String| LoadError::Cache {
            path: dir.to_owned(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = std::fs::metadata(dir).map_err(|e| error(e.to_string()))?;
            let mut mode = meta.permissions().mode();
            if mode & 0o077 != 0 && meta.uid() == current_uid(dir) {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| error(e.to_string()))?;
                mode = 0o700;
            }
            if mode & 0o022 != 0 {
                return Err(error(
                    "others can write it; precompiled code must come only from this host".into(),
                ));
            }
        }
        Ok(ModuleCache {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, engine: &Engine, module_hash: &[u8; 32]) -> PathBuf {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.0.finalize();
        let name = format!(
            "{}-{}.cwasm",
            hex(module_hash),
            hex(engine_hash.get(..8).unwrap_or_default())
        );
        self.dir.join(name)
    }

    /// The precompiled module, if this engine cached it before.
    #[allow(
        unsafe_code,
        reason = "wasmtime's only way to load precompiled code; see the module docs"
    )]
    pub fn get(&self, engine: &Engine, module_hash: &[u8; 32]) -> Option<Module> {
        let path = self.path(engine, module_hash);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file was written by `put` from `Module::serialize`
        // into a directory only this user can write (checked in `open`),
        // under a name that includes this engine's compatibility hash.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(module) => {
                tracing::debug!(path = %path.display(), "precompiled module loaded from cache");
                Some(module)
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "unusable cache entry; recompiling");
                None
            }
        }
    }

    /// Stores a compiled module; failures only cost the next start time.
    pub fn put(&self, engine: &Engine, module_hash: &[u8; 32], module: &Module) {
        let path = self.path(engine, module_hash);
        let result = module
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let mut tmp =
                    tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
                tmp.write_all(&bytes).map_err(|e| e.to_string())?;
                tmp.persist(&path).map_err(|e| e.to_string())?;
                Ok(())
            });
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), error = %error, "cannot write the module cache");
        }
    }
}

#[cfg(unix)]
fn current_uid(dir: &Path) -> u32 {
    // The owner of a directory we just created is us; compare with a file
    // we create in it, as std has no getuid.
    use std::os::unix::fs::MetadataExt;
    tempfile::tempfile_in(dir)
        .and_then(|f| f.metadata())
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
