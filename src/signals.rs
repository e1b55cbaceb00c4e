//! Ctrl-C and SIGTERM, for every verb: the server's graceful shutdown, and the long runs
//! (matrix, schedules) that stop after the first signal and report what they have.

/// Runs `work` to its end. The first Ctrl-C (or SIGTERM) calls `stop` and says `why` on
/// stderr: the work then winds down and ends with what it has. A second one abandons it: None.
pub async fn stop_on_first_signal<T>(
    work: impl std::future::Future<Output = T>,
    stop: impl Fn(),
    why: &str,
) -> Option<T> {
    tokio::pin!(work);
    let mut signalled = false;
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            () = shutdown_signal() => {
                if signalled {
                    return None;
                }
                signalled = true;
                stop();
                eprintln!("interrupted: {why} (Ctrl-C again to quit at once)");
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
