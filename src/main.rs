//! `counter`: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    counter::cli::load_dotenv_files();
    let cli = match counter::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line (clap's first).
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or("error: invalid usage");
            eprintln!("{first} (see counter --help)");
            return ExitCode::from(2);
        }
    };
    counter::init_logging();
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(counter::run(cli));
    ExitCode::from(code)
}

/// Thousands of concurrent requests need thousands of sockets: lift the soft limit on open
/// files to the hard limit (what the administrator allows), as servers and load tools do.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
