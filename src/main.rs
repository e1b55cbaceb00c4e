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
            let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
            let mut first = lines.next().unwrap_or("error: invalid usage").to_string();
            // "the following required arguments were not provided:" names them below.
            if first.ends_with(':') {
                let named: Vec<&str> = lines
                    .take_while(|line| !line.starts_with("Usage"))
                    .collect();
                first = format!("{first} {}", named.join(", "));
            }
            eprintln!("{first} (see counter --help)");
            return ExitCode::from(2);
        }
    };
    counter::init_logging();
    counter::raise_open_file_limit();
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
