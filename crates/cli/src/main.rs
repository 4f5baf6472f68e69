//! The `tokenwatch` binary: parse arguments, set up logging, run one command.

mod cli;
mod commands;
mod table;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&anyhow::anyhow!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let result = run(cli).await;
        commands::close_stores().await;
        result
    });
    match result {
        Ok(Some(output)) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = writeln!(stdout, "{output}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// What a command's input did wrong (an argument, a file's rows): exit code 2, like clap's own
/// usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The exit code of a failed command, decided here only: 2 when the input was wrong (an
/// argument, a file's rows, a value the use-case refused, the configuration), 1 for everything
/// else (the database, the file system, the network). A well-formed name that is unknown or
/// already taken (`AppError::NotFound`, `Conflict`) is 1: the input was valid, the state of
/// the database refused it.
fn exit_code(err: &anyhow::Error) -> u8 {
    use tokenwatch_app::AppError;
    use tokenwatch_app::config::{ConfigError, LoadError};
    let input = err.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause.is::<ConfigError>()
            || matches!(
                cause.downcast_ref::<LoadError>(),
                Some(
                    LoadError::Missing(_)
                        | LoadError::Toml { .. }
                        | LoadError::Problems(_)
                        | LoadError::Invalid { .. }
                )
            )
            || matches!(
                cause.downcast_ref::<AppError>(),
                Some(AppError::BadInput { .. } | AppError::BadFields(_))
            )
    });
    if input { 2 } else { 1 }
}

async fn run(cli: Cli) -> anyhow::Result<Option<String>> {
    match &cli.command {
        Command::Init(args) => commands::init::run(args).map(Some),
        Command::Serve(args) => commands::serve::run(&cli.global, args).await.map(|()| None),
        Command::Report(args) => commands::report::run(&cli.global, args).await.map(Some),
        Command::Events(args) => commands::events::run(&cli.global, args).await.map(Some),
        Command::Session(args) => commands::advisor::session(&cli.global, args)
            .await
            .map(Some),
        Command::Advise(args) => commands::advisor::advise(&cli.global, args).await.map(Some),
        Command::Guard(args) => commands::advisor::guard(&cli.global, args).await.map(Some),
        Command::PromptCosts(args) => commands::advisor::prompt_costs(&cli.global, args)
            .await
            .map(Some),
        Command::Import(args) => commands::import::run(&cli.global, args).await,
        Command::Export(args) => commands::tabular::export(&cli.global, args).await,
        Command::Add(args) => commands::manual::add(&cli.global, args).await.map(Some),
        Command::Sync(args) => commands::sync::sync(&cli.global, args).await.map(Some),
        Command::Reconcile(args) => commands::sync::reconcile(&cli.global, args).await.map(Some),
        Command::Accounts(args) => commands::manual::accounts(&cli.global, args)
            .await
            .map(Some),
        Command::Budget(args) => commands::budget::run(&cli.global, args).await.map(Some),
        Command::Alert(args) => commands::alert::run(&cli.global, args).await.map(Some),
        Command::Tag(args) => commands::tag::run(&cli.global, args).await.map(Some),
        Command::Tenant(args) => commands::teams::tenant(&cli.global, args).await.map(Some),
        Command::Project(args) => commands::teams::project(&cli.global, args).await.map(Some),
        Command::Key(args) => commands::teams::key(&cli.global, args).await.map(Some),
        Command::Token(args) => commands::teams::token(&cli.global, args).await.map(Some),
        Command::User(args) => commands::teams::user(&cli.global, args).await.map(Some),
        Command::Credential(args) => commands::teams::credential(&cli.global, args)
            .await
            .map(Some),
        Command::Audit(args) => commands::teams::audit(&cli.global, args).await.map(Some),
    }
}

/// Logs go to stderr; `TOKENWATCH_LOG` (or `RUST_LOG`) sets the filter, default `info`. Colour
/// only when stderr is a terminal and `NO_COLOR` is unset, so log files stay plain text.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = std::env::var("TOKENWATCH_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

/// <https://no-color.org>: a `NO_COLOR` that is set and not empty turns colour off.
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

fn report_error(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::{BadInput, exit_code, use_colour};
    use std::ffi::OsStr;

    #[test]
    fn wrong_input_exits_2_and_other_failures_1() {
        let bad = anyhow::Error::new(BadInput("--since: 'soon' is not a time".to_owned()));
        assert_eq!(exit_code(&bad), 2);
        let refused = anyhow::Error::new(tokenwatch_app::AppError::bad("limit", "too big"))
            .context("listing events");
        assert_eq!(exit_code(&refused), 2);
        let io = anyhow::Error::new(std::io::Error::other("disk full"));
        assert_eq!(exit_code(&io), 1);
        let unknown = anyhow::Error::new(tokenwatch_app::AppError::NotFound("tenant 'x'".into()));
        assert_eq!(exit_code(&unknown), 1);
        let taken = anyhow::Error::new(tokenwatch_app::AppError::Conflict("taken".to_owned()));
        assert_eq!(exit_code(&taken), 1);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
