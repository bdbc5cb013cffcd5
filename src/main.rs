//! The `impress` binary: parse arguments, run, map the outcome to an exit code.

use clap::Parser;
use impress::cli::{ChecksCommand, Cli, Command};
use impress::error::{EXIT_CHECKS_FAILED, EXIT_INVALID, EXIT_OK, Error};
use impress::ha::profile::ReloginLimits;
use impress::report::read_report;
use impress::run::RunArgs;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    // Every session is a socket: take all the descriptors allowed (pre-flight checks the rest).
    match impress::preflight::raise_nofile_limit() {
        Ok((soft, hard)) => tracing::debug!(soft, hard, "RLIMIT_NOFILE"),
        Err(e) => tracing::warn!("cannot raise RLIMIT_NOFILE: {e}"),
    }
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<Error>()
                .map_or(EXIT_INVALID, |e| e.exit_code());
            eprintln!("error: {e:#}");
            code
        }
    };
    ExitCode::from(code as u8)
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run {
            suite,
            target,
            out,
            quiet,
            metrics_listen,
            sip_target,
            shard,
            start_at,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            let args = RunArgs {
                suite,
                target,
                out,
                quiet,
                metrics_listen,
                sip_target,
                shard,
                start_at,
            };
            let (_, code) = rt.block_on(impress::run::run(&args))?;
            Ok(code)
        }
        Command::Merge { dirs, out, quiet } => Ok(impress::report::merge::run(&dirs, &out, quiet)?),
        Command::Compare {
            old,
            new,
            threshold,
        } => {
            let read = |dir: &std::path::Path| read_report(dir).map_err(Error::from);
            let (before, after) = (read(&old)?, read(&new)?);
            let c = impress::report::compare::compare(&before, &after, threshold);
            let text = c.render(&old.display().to_string(), &new.display().to_string());
            let _ = write!(std::io::stdout(), "{text}");
            Ok(if c.regressed() {
                EXIT_CHECKS_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Serve {
            target,
            accounts,
            prefix,
            info,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            let args = impress::serve::ServeArgs {
                target,
                accounts,
                prefix,
                info,
            };
            Ok(rt.block_on(impress::serve::serve(&args))?)
        }
        Command::Validate { suite, target } => {
            let s = impress::scenario::load_suite(&suite)?;
            let t = impress::scenario::load_target(target.as_deref())?;
            impress::scenario::suite_failover::check_target(&s, &t).map_err(|message| {
                Error::Config {
                    path: suite.clone(),
                    message,
                }
            })?;
            let _ = writeln!(std::io::stdout(), "{}: ok", suite.display());
            Ok(EXIT_OK)
        }
        Command::HaProfile {
            users,
            rate,
            profile,
            service_down_delay,
            json,
        } => {
            let Some(rate) = rate.or(profile.map(|p| p.rate)) else {
                return Err(Error::Usage("give --rate or --profile".into()).into());
            };
            let limits = ReloginLimits::compute(users, rate, service_down_delay);
            let text = if json {
                format!("{:#}\n", limits.to_json(profile))
            } else {
                limits.render()
            };
            let _ = write!(std::io::stdout(), "{text}");
            Ok(EXIT_OK)
        }
        Command::Checks {
            command: ChecksCommand::List { spec },
        } => {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", impress::checks::render_list(spec.as_deref()));
            Ok(EXIT_OK)
        }
    }
}
