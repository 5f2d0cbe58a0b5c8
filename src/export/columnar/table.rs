//! One Parquet file being written: column builders for the current row
//! group, flushed every `row_group_rows` rows, so memory stays bounded by
//! one row group whatever the capture's size.
//!
//! The file is written under a hidden temporary name in the table's
//! directory and renamed into place only when complete: a reader (DuckDB,
//! Spark) globbing `*.parquet` while other processes export never sees a
//! half-written file, and Spark skips names starting with `.`.

use super::ExportError;
use super::schema::{Kind, TABLE_KEY, TableDef, VERSION_KEY};
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A typed builder for one column.
enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    Bool(BooleanBuilder),
    Ts(TimestampNanosecondBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Str => Builder::Str(StringBuilder::new()),
            Kind::I64 => Builder::I64(Int64Builder::new()),
            Kind::I32 => Builder::I32(Int32Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Ts => Builder::Ts(TimestampNanosecondBuilder::new().with_timezone("UTC")),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => ArrayBuilder::finish(b),
            Builder::I64(b) => ArrayBuilder::finish(b),
            Builder::I32(b) => ArrayBuilder::finish(b),
            Builder::Bool(b) => ArrayBuilder::finish(b),
            Builder::Ts(b) => ArrayBuilder::finish(b),
        }
    }
}

/// A value for one cell.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Text.
    Str(Option<&'a str>),
    /// int64.
    I64(Option<i64>),
    /// int32.
    I32(Option<i32>),
    /// bool.
    Bool(Option<bool>),
    /// Nanoseconds since the epoch, UTC.
    Ts(Option<i64>),
}

/// Writes one table's file for one capture.
pub struct TableWriter {
    def: &'static TableDef,
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    row_group_rows: usize,
    /// Rows written in total.
    pub total_rows: u64,
    writer: Option<ArrowWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    /// The file was renamed into place; until then dropping the writer
    /// removes the temporary file.
    published: bool,
}

impl TableWriter {
    /// Creates `dir/<table>/` and a temporary file in it; the final name is
    /// `dir/<table>/<stem>.parquet`.
    pub fn create(
        def: &'static TableDef,
        dir: &Path,
        stem: &str,
        row_group_rows: usize,
    ) -> Result<Self, ExportError> {
        let table_dir = dir.join(def.name);
        std::fs::create_dir_all(&table_dir).map_err(|source| ExportError::Io {
            path: table_dir.display().to_string(),
            source,
        })?;
        let dest = table_dir.join(format!("{stem}.parquet"));
        let tmp = table_dir.join(format!(".{stem}.parquet.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|source| ExportError::Io {
            path: tmp.display().to_string(),
            source,
        })?;
        let schema = def.schema();
        let row_group_rows = row_group_rows.max(1);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_created_by(format!("wsinspect {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    VERSION_KEY.to_string(),
                    super::schema::SCHEMA_VERSION.to_string(),
                ),
                KeyValue::new(TABLE_KEY.to_string(), def.name.to_string()),
            ]))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|source| {
            ExportError::Parquet {
                path: tmp.display().to_string(),
                source,
            }
        })?;
        Ok(TableWriter {
            def,
            schema,
            builders: def.columns.iter().map(|c| Builder::new(c.kind)).collect(),
            rows: 0,
            row_group_rows,
            total_rows: 0,
            writer: Some(writer),
            tmp,
            dest,
            published: false,
        })
    }

    /// The table's name.
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// Appends one row; `values` must follow the table's column order.
    pub fn row(&mut self, values: &[Value<'_>]) -> Result<(), ExportError> {
        if values.len() != self.builders.len() {
            return Err(self.shape_error(format!(
                "a row of {} values for {} columns",
                values.len(),
                self.builders.len()
            )));
        }
        for (i, (b, v)) in self.builders.iter_mut().zip(values).enumerate() {
            match (b, v) {
                (Builder::Str(b), Value::Str(v)) => b.append_option(*v),
                (Builder::I64(b), Value::I64(v)) => b.append_option(*v),
                (Builder::I32(b), Value::I32(v)) => b.append_option(*v),
                (Builder::Bool(b), Value::Bool(v)) => b.append_option(*v),
                (Builder::Ts(b), Value::Ts(v)) => b.append_option(*v),
                _ => {
                    let name = self.def.columns.get(i).map_or("?", |c| c.name);
                    return Err(self.shape_error(format!("wrong value type for column {name}")));
                }
            }
        }
        self.rows += 1;
        self.total_rows += 1;
        if self.rows >= self.row_group_rows {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn shape_error(&self, what: String) -> ExportError {
        ExportError::Schema {
            table: self.def.name,
            what,
        }
    }

    /// Writes the buffered rows as one row group.
    fn flush_row_group(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        let batch =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| ExportError::Schema {
                table: self.def.name,
                what: e.to_string(),
            })?;
        let path = self.tmp.display().to_string();
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        writer
            .write(&batch)
            .and_then(|_| writer.flush())
            .map_err(|source| ExportError::Parquet { path, source })
    }

    /// Writes the last row group and the footer, and moves the file into
    /// place.
    pub fn finish(mut self) -> Result<PathBuf, ExportError> {
        self.flush_row_group()?;
        let path = self.tmp.display().to_string();
        if let Some(writer) = self.writer.take() {
            writer
                .close()
                .map_err(|source| ExportError::Parquet { path, source })?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|source| ExportError::Io {
            path: self.dest.display().to_string(),
            source,
        })?;
        self.published = true;
        Ok(self.dest.clone())
    }
}

impl Drop for TableWriter {
    /// An export that failed half-way leaves no temporary file behind.
    fn drop(&mut self) {
        if !self.published {
            self.writer.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
