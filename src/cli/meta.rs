//! `wsinspect completions SHELL` and `wsinspect man`: shell completion
//! scripts and a roff man page, both generated from the clap definition so
//! they can never drift from the real command line. Both print to standard
//! output, to be redirected where the shell or `man` looks for them.

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::{Args, CommandFactory, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Arguments of `wsinspect completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `wsinspect man`.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Help text after the options of `completions`.
pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  wsinspect completions bash > ~/.local/share/bash-completion/completions/wsinspect
  wsinspect completions zsh > ~/.zfunc/_wsinspect      # with fpath+=(~/.zfunc) in ~/.zshrc
  wsinspect completions fish > ~/.config/fish/completions/wsinspect.fish";

/// Help text after the options of `man`.
pub const MAN_EXAMPLES: &str = "\
Examples:
  wsinspect man | man -l -
  wsinspect man > ~/.local/share/man/man1/wsinspect.1";

/// Arguments of `wsinspect schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which output's schema.
    #[arg(value_enum, default_value = "report")]
    kind: wsinspect::report::contract::SchemaKind,
}

/// Help text after the options of `schema`.
pub const SCHEMA_EXAMPLES: &str = "\
Examples:
  wsinspect schema report > report.schema.json
  wsinspect schema ndjson > ndjson.schema.json
  wsinspect schema check > check.schema.json";

/// Writes the JSON Schema of `args.kind` to standard output.
pub fn schema(args: SchemaArgs) -> Result<ExitCode> {
    emit(args.kind.text().as_bytes())
}

/// Writes the completion script for `args.shell` to standard output.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    write_completions(args.shell, &mut buf);
    emit(&buf)
}

/// Writes the man page to standard output.
pub fn man(_args: ManArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    write_man(&mut buf).context("rendering the man page")?;
    emit(&buf)
}

/// The completion script for `shell`.
pub fn write_completions(shell: Shell, out: &mut Vec<u8>) {
    let mut cmd = Cli::command();
    let target = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(target, &mut cmd, "wsinspect", out);
}

/// The man page: the top-level page followed by one section per
/// subcommand, so `man wsinspect` documents every option.
pub fn write_man(out: &mut Vec<u8>) -> std::io::Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    // clap_mangen would point at wsinspect-report(1) and so on; everything
    // is in this one page instead.
    writeln!(out, ".SH SUBCOMMANDS")?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP
\\fB{}\\fR
{}",
            sub.get_name(),
            roff_text(&about)
        )?;
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("wsinspect {}", sub.get_name());
        let sub = sub.clone().bin_name(name.clone());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let page = clap_mangen::Man::new(sub);
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body)?;
        page.render_description_section(&mut body)?;
        page.render_options_section(&mut body)?;
        page.render_extra_section(&mut body)?;
        // Subsections of the command's page become sub-headings here, and
        // the after-help examples a no-fill EXAMPLES block.
        let mut body = String::from_utf8_lossy(&body).replace(".SH ", ".SS ");
        if body.contains(".SS EXTRA\nExamples:\n") {
            body = body.replace(".SS EXTRA\nExamples:\n", ".SS EXAMPLES\n.nf\n");
            body.push_str(".fi\n");
        }
        out.write_all(body.as_bytes())?;
    }
    man.render_version_section(out)?;
    Ok(())
}

/// Escapes text for a roff paragraph: `-` and a leading `.` or `'`.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

fn emit(buf: &[u8]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(buf)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The convention every subcommand follows: `--help` ends with an
    /// `Examples:` block (after_help; other sections such as exit codes may
    /// come before it), each line a real `wsinspect <subcommand> …` run.
    /// Examples in the doc comment are not enough: clap reflows them into
    /// one paragraph.
    #[test]
    fn every_subcommand_has_examples_in_its_help() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = sub.get_name();
            let after = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let Some(block) = after.split("Examples:\n").nth(1) else {
                panic!(
                    "`wsinspect {name} --help` must end with an `Examples:` block \
                     (#[command(after_help = ...)])"
                );
            };
            let examples: Vec<&str> = block
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            assert!(!examples.is_empty(), "{name}: no examples");
            for ex in examples {
                assert!(
                    ex.contains(&format!("wsinspect {name}")),
                    "{name}: example does not run the subcommand: {ex}"
                );
            }
        }
    }

    #[test]
    fn completions_name_every_subcommand() {
        let cmd = Cli::command();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut buf = Vec::new();
            write_completions(shell, &mut buf);
            let text = String::from_utf8(buf).expect("completion scripts are UTF-8");
            for sub in cmd.get_subcommands() {
                assert!(
                    text.contains(sub.get_name()),
                    "{shell:?} completions lack {}",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn man_page_documents_every_subcommand_and_option() {
        let mut buf = Vec::new();
        write_man(&mut buf).expect("rendering into memory");
        let text = String::from_utf8(buf).expect("man page is UTF-8");
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "roff preamble");
        assert!(text.contains(".TH wsinspect 1"), "title");
        assert!(
            !text.contains("wsinspect\\-report(1)"),
            "no pointers to missing pages"
        );
        assert_eq!(
            text.matches(".SS EXAMPLES\n.nf\n").count(),
            text.matches(".fi\n").count(),
            "every example block is closed"
        );
        let cmd = Cli::command();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let heading = format!(".SH \"WSINSPECT {}\"", sub.get_name().to_uppercase());
            assert!(text.contains(&heading), "missing {heading}");
            let listed = format!(".TP\n\\fB{}\\fR\n", sub.get_name());
            assert!(
                text.contains(&listed),
                "SUBCOMMANDS lacks {}",
                sub.get_name()
            );
            for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
                // roff escapes '-' as '\-'.
                let flag = format!("\\-\\-{}", arg.replace('-', "\\-"));
                assert!(text.contains(&flag), "{}: missing {flag}", sub.get_name());
            }
        }
    }
}
