//! Parquet files, as MMLU-Pro is published (`test-*.parquet`, `validation-*.parquet`) and as
//! datasets exported from dataframes usually are. Each row is read as the JSON object it holds
//! (lists as arrays, strings as strings, integers as numbers) and the rows go through the JSON
//! Lines importer, a row per line: the same shapes are understood, the same rules apply, the
//! same items give the same digest, and problems are reported by row.

use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::{MAX_DATASET_BYTES, MAX_ITEMS};

/// The rows of a Parquet file as JSON Lines; the error says why the file cannot be read.
///
/// A Parquet file is compressed (dictionaries, run lengths, a codec), so a few megabytes can
/// declare millions of rows or rows of any length: its row count is checked against
/// [`MAX_ITEMS`] before any row is read, and the rows as JSON against [`MAX_DATASET_BYTES`] as
/// they are read, as a decompressed upload is.
pub(super) fn as_jsonl(bytes: &[u8]) -> Result<Vec<u8>, String> {
    as_bounded_jsonl(bytes, MAX_ITEMS, MAX_DATASET_BYTES)
}

fn as_bounded_jsonl(bytes: &[u8], max_rows: usize, max_bytes: usize) -> Result<Vec<u8>, String> {
    let unreadable = |e: parquet::errors::ParquetError| format!("not a readable Parquet file: {e}");
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes)).map_err(unreadable)?;
    let rows = reader.metadata().file_metadata().num_rows();
    if usize::try_from(rows).map_or(true, |rows| rows > max_rows) {
        return Err(format!(
            "the file has {rows} rows; a dataset holds at most {max_rows} items"
        ));
    }
    let mut lines = Vec::with_capacity(bytes.len().min(max_bytes));
    for row in reader.get_row_iter(None).map_err(unreadable)? {
        let row = row.map_err(unreadable)?;
        serde_json::to_writer(&mut lines, &row.to_json_value())
            .map_err(|e| format!("a row cannot be read as JSON: {e}"))?;
        lines.push(b'\n');
        if lines.len() > max_bytes {
            return Err(format!(
                "the file's rows come to more than {} MiB as text, the most a dataset file may hold",
                max_bytes / (1024 * 1024)
            ));
        }
    }
    Ok(lines)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use parquet::{
        data_type::{ByteArray, ByteArrayType, Int64Type},
        file::{properties::WriterProperties, writer::SerializedFileWriter},
        schema::parser::parse_message_type,
    };
    use serde_json::Value;

    use super::as_bounded_jsonl;
    use crate::{
        dataset_digest,
        import::{ImportFormat, parse_items},
    };

    /// MMLU-Pro records written as Hugging Face publishes them: the eight columns, optional,
    /// `options` a list of strings, Snappy-compressed.
    pub(crate) fn mmlu_pro_parquet(records: &[Value]) -> Vec<u8> {
        let schema = parse_message_type(
            "message schema {
                OPTIONAL INT64 question_id;
                OPTIONAL BYTE_ARRAY question (UTF8);
                OPTIONAL group options (LIST) {
                    REPEATED group list { OPTIONAL BYTE_ARRAY element (UTF8); }
                }
                OPTIONAL BYTE_ARRAY answer (UTF8);
                OPTIONAL INT64 answer_index;
                OPTIONAL BYTE_ARRAY cot_content (UTF8);
                OPTIONAL BYTE_ARRAY category (UTF8);
                OPTIONAL BYTE_ARRAY src (UTF8);
            }",
        )
        .unwrap();
        let properties = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut out = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(properties)).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let text = |field: &str| -> Vec<ByteArray> {
            records
                .iter()
                .map(|r| ByteArray::from(r[field].as_str().unwrap_or_default()))
                .collect()
        };
        let present = vec![1i16; records.len()];
        let mut column = 0;
        while let Some(mut writer) = group.next_column().unwrap() {
            match column {
                0 | 4 => {
                    let field = if column == 0 {
                        "question_id"
                    } else {
                        "answer_index"
                    };
                    let values: Vec<i64> =
                        records.iter().map(|r| r[field].as_i64().unwrap()).collect();
                    writer
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&present), None)
                        .unwrap();
                }
                2 => {
                    // A list per row: repetition 0 starts a row, 1 continues its list.
                    let (mut values, mut definitions, mut repetitions) = (vec![], vec![], vec![]);
                    for record in records {
                        for (i, option) in record["options"].as_array().unwrap().iter().enumerate()
                        {
                            values.push(ByteArray::from(option.as_str().unwrap()));
                            definitions.push(3);
                            repetitions.push(i16::from(i > 0));
                        }
                    }
                    writer
                        .typed::<ByteArrayType>()
                        .write_batch(&values, Some(&definitions), Some(&repetitions))
                        .unwrap();
                }
                _ => {
                    let field = [
                        "",
                        "question",
                        "",
                        "answer",
                        "",
                        "cot_content",
                        "category",
                        "src",
                    ][column];
                    writer
                        .typed::<ByteArrayType>()
                        .write_batch(&text(field), Some(&present), None)
                        .unwrap();
                }
            }
            writer.close().unwrap();
            column += 1;
        }
        group.close().unwrap();
        writer.close().unwrap();
        out
    }

    /// The demo dataset's MMLU-Pro lines.
    const DEMO: &str = include_str!("../../../../datasets/evalboard-demo.jsonl");

    /// [`DEMO`]'s records.
    fn demo_records() -> Vec<Value> {
        DEMO.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn parquet_rows_import_as_the_same_items_as_json_lines() {
        // The demo dataset, written both ways.
        let records = demo_records();
        let parquet = mmlu_pro_parquet(&records);
        assert_eq!(&parquet[..4], b"PAR1");
        let from_parquet = parse_items(ImportFormat::Parquet, &parquet).unwrap();
        let from_jsonl = parse_items(ImportFormat::Jsonl, DEMO.as_bytes()).unwrap();
        assert_eq!(from_parquet.items, from_jsonl.items);
        assert_eq!(
            dataset_digest(&from_parquet.items),
            dataset_digest(&from_jsonl.items)
        );
        let refused = parse_items(ImportFormat::Parquet, b"question,answer\n").unwrap_err();
        assert!(
            refused.problems[0]
                .message
                .starts_with("not a readable Parquet file"),
            "{:?}",
            refused.problems
        );
    }

    #[test]
    fn rows_past_the_limits_are_refused_before_they_are_all_read() {
        let records = demo_records();
        let parquet = mmlu_pro_parquet(&records);
        let whole = as_bounded_jsonl(&parquet, records.len(), usize::MAX).unwrap();
        assert_eq!(whole.iter().filter(|&&b| b == b'\n').count(), records.len());

        let too_many = as_bounded_jsonl(&parquet, records.len() - 1, usize::MAX).unwrap_err();
        assert_eq!(
            too_many,
            format!(
                "the file has {} rows; a dataset holds at most {} items",
                records.len(),
                records.len() - 1
            )
        );
        let too_long = as_bounded_jsonl(&parquet, records.len(), whole.len() - 1).unwrap_err();
        assert!(
            too_long.starts_with("the file's rows come to more than"),
            "{too_long}"
        );
    }
}
