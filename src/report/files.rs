//! Where reports go. Every output path is checked before any work: a matrix runs for minutes
//! and a hammer run changes the counter, and neither may end in "could not write" with the
//! figures gone. A file that still cannot be written at the end leaves its text on the
//! terminal, and the error names the path.

use std::fs::OpenOptions;
use std::path::Path;

/// Whether `path` (given with `flag`) can be written: an existing file opened for appending
/// (nothing changes), a new one created and removed again. The message says why not.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), String> {
    let why = if path.is_dir() {
        Some("it is a directory".to_string())
    } else if path.exists() {
        OpenOptions::new()
            .append(true)
            .open(path)
            .err()
            .map(|e| e.to_string())
    } else {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(_) => {
                let _ = std::fs::remove_file(path);
                None
            }
            Err(err) => Some(err.to_string()),
        }
    };
    match why {
        Some(why) => Err(format!(
            "{flag} {}: cannot write there ({why}); nothing was run",
            path.display()
        )),
        None => Ok(()),
    }
}

/// Writes a report's `text` to `path`; the error names the path. Every verb prints its report
/// before it writes its files, so a write that fails here loses nothing.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|err| format!("could not write {} ({err})", path.display()))
}

/// Each `(flag, path)` that is set, checked as [`check_writable`] does; the first problem.
pub fn check_all<'a>(
    outputs: impl IntoIterator<Item = (&'a str, Option<&'a Path>)>,
) -> Result<(), String> {
    for (flag, path) in outputs {
        if let Some(path) = path {
            check_writable(flag, path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_cannot_be_written_is_named_and_nothing_is_left_behind() {
        let dir = std::env::temp_dir().join(format!("counter-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new.json");
        let existing = dir.join("existing.csv");
        std::fs::write(&existing, "kept").unwrap();
        let missing = dir.join("no-such-dir").join("x.json");
        let results = [
            check_writable("--json", &new),
            check_writable("--csv", &existing),
            check_writable("--output", &missing),
            check_writable("--html", &dir),
        ];
        let new_left = new.exists();
        let kept = std::fs::read_to_string(&existing).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
        assert!(!new_left, "the probe file was removed");
        assert_eq!(kept, "kept", "an existing file is not touched");
        let missing_error = results[2].as_ref().unwrap_err();
        assert!(missing_error.starts_with("--output "), "{missing_error}");
        assert!(missing_error.contains("nothing was run"), "{missing_error}");
        assert!(results[3].as_ref().unwrap_err().contains("is a directory"));
    }
}
