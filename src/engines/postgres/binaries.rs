//! Finding PostgreSQL's server binaries on this machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the server binaries are: COUNTER_PG_BIN, `pg_config --bindir`, the highest
/// /usr/lib/postgresql/*/bin, PATH, then Homebrew's usual places.
pub fn find_server_binaries() -> Option<PathBuf> {
    let has_binaries = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("COUNTER_PG_BIN") {
        // An explicit setting is obeyed or reported, never silently replaced.
        let dir = PathBuf::from(dir);
        return has_binaries(&dir).then_some(dir);
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    candidates.extend(versioned_dirs("/usr/lib/postgresql", "", "bin"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    for prefix in ["/opt/homebrew/opt", "/usr/local/opt"] {
        candidates.extend(versioned_dirs(prefix, "postgresql", "bin"));
    }
    candidates.extend(["/opt/homebrew/bin", "/usr/local/bin"].map(PathBuf::from));
    candidates.into_iter().find(|dir| has_binaries(dir))
}

/// `root/{prefix}{version}/{leaf}` directories, highest version first (`@` separators allowed).
fn versioned_dirs(root: &str, prefix: &str, leaf: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix(prefix)?.trim_start_matches('@');
            let key = version
                .split('.')
                .map(|part| part.parse().unwrap_or(0))
                .collect();
            Some((key, entry.path().join(leaf)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, path)| path).collect()
}
