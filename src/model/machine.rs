//! The machine a result was measured on, in the words every results file uses.

/// "x86_64 linux, 2 cores": enough to tell machines apart in a results file.
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{} {}, {cores} cores",
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}
