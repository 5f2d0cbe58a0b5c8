//! `wsinspect export-parquet DIR CAPTURE...`: the columnar export's command
//! line. The arguments live in [`ParquetArgs`] so that they can be
//! flattened into an `export --parquet DIR` subcommand unchanged.

use crate::cli::AnalysisArgs;
#[cfg(feature = "parquet")]
use anyhow::Context;
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
#[cfg(feature = "parquet")]
use std::sync::Arc;
#[cfg(feature = "parquet")]
use wsinspect::export::columnar::{self, ExportOptions};

/// `ExportOptions::default()`, spelled out so that the flags and their
/// help read the same in a build without the `parquet` feature.
const ROW_GROUP_ROWS: usize = 16 * 1024;
const TEXT_BYTES: usize = 1024;

/// Options of the Parquet export (besides the output directory).
#[derive(Debug, Args)]
pub struct ParquetArgs {
    /// Rows per Parquet row group; also the most rows buffered per table.
    #[arg(long, value_name = "N", default_value_t = ROW_GROUP_ROWS)]
    pub row_group_rows: usize,
    /// Bytes of each text message kept in the `text` column.
    #[arg(long, value_name = "BYTES", default_value_t = TEXT_BYTES)]
    pub text_bytes: usize,
    /// Also use `<capture-stem>.keylog` next to each capture, when it
    /// exists, to decrypt its wss connections.
    #[arg(long)]
    pub keylog_beside: bool,
}

/// `export-parquet`: the output directory, the captures and the options.
#[derive(Debug, Args)]
pub struct ExportParquetArgs {
    /// Output directory: tables go to DIR/<table>/<capture-stem>.parquet.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Capture files (pcap or pcapng).
    #[arg(value_name = "CAPTURE", required = true)]
    pub captures: Vec<String>,
    #[command(flatten)]
    pub parquet: ParquetArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Runs `export-parquet`.
pub fn export_parquet(args: ExportParquetArgs) -> Result<ExitCode> {
    let opts = args.analysis.options()?;
    write_parquet(&args.dir, &args.captures, &args.parquet, &opts)
}

/// Without the `parquet` feature: says how to get it.
#[cfg(not(feature = "parquet"))]
pub fn write_parquet(
    _dir: &Path,
    _captures: &[String],
    _args: &ParquetArgs,
    _opts: &wsinspect::pipeline::Options,
) -> Result<ExitCode> {
    anyhow::bail!(
        "this wsinspect was built without Parquet support; rebuild it with the `parquet` feature \
         (on by default: `cargo install wsinspect`, without `--no-default-features`)"
    )
}

/// Exports every capture into `dir`, one after the other; prints one line
/// per capture on stderr (its row counts, or why it failed). Two captures with the same stem would overwrite
/// each other's files, so that is refused before anything is written.
#[cfg(feature = "parquet")]
pub fn write_parquet(
    dir: &Path,
    captures: &[String],
    args: &ParquetArgs,
    opts: &wsinspect::pipeline::Options,
) -> Result<ExitCode> {
    let mut stems = std::collections::HashMap::new();
    for path in captures {
        let stem = columnar::capture_stem(path).with_context(|| {
            format!(
                "{path}: the Parquet export needs capture files (their names name the output files)"
            )
        })?;
        if let Some(other) = stems.insert(stem.clone(), path) {
            anyhow::bail!(
                "{other} and {path} would both be exported as {stem}.parquet; rename one of them"
            );
        }
    }
    let export = ExportOptions {
        row_group_rows: args.row_group_rows.max(1),
        text_bytes: args.text_bytes,
    };
    // One bad file must not stop a fleet's export: each failure is reported
    // and the others go on; the exit status says that something failed.
    let mut failed = 0usize;
    for path in captures {
        let mut opts = opts.clone();
        let result = add_beside_keylog(path, &mut opts, args.keylog_beside)
            .and_then(|()| Ok(columnar::export_path(path, dir, &opts, &export)?));
        match result {
            Ok(summary) => {
                let counts: Vec<String> = summary
                    .tables
                    .iter()
                    .map(|(t, _, n)| format!("{t} {n}"))
                    .collect();
                eprintln!("wsinspect: {}: {}", summary.capture, counts.join(", "));
            }
            Err(e) => {
                failed += 1;
                eprintln!("wsinspect: error: exporting {path}: {e:#}");
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "wsinspect: {failed} of {} captures not exported",
            captures.len()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Merges `<stem>.keylog` beside the capture into the key log in force.
#[cfg(feature = "parquet")]
fn add_beside_keylog(
    path: &str,
    opts: &mut wsinspect::pipeline::Options,
    wanted: bool,
) -> Result<()> {
    if !wanted {
        return Ok(());
    }
    let keylog_path = Path::new(path).with_extension("keylog");
    if !keylog_path.is_file() {
        return Ok(());
    }
    let (keys, notes) = wsinspect::pipeline::load_keylogs(&[keylog_path])?;
    for note in notes {
        eprintln!("wsinspect: warning: {note}");
        opts.notes.push(note);
    }
    let mut merged = opts.keylog.as_deref().cloned().unwrap_or_default();
    merged.merge(keys);
    opts.keylog = Some(Arc::new(merged));
    Ok(())
}

#[cfg(all(test, feature = "parquet"))]
mod tests {
    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let d = super::ExportOptions::default();
        assert_eq!(
            (d.row_group_rows, d.text_bytes),
            (super::ROW_GROUP_ROWS, super::TEXT_BYTES)
        );
    }
}
