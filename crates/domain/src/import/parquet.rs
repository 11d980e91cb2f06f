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
    // The Parquet crate panics on some malformed files (a row group it cannot advance to, say)
    // instead of returning an error: such a file is unreadable, not a fault of the server.
    std::panic::catch_unwind(|| as_bounded_jsonl(bytes, MAX_ITEMS, MAX_DATASET_BYTES))
        .unwrap_or_else(|_| {
            Err("not a readable Parquet file: its structure is inconsistent".to_owned())
        })
}

fn as_bounded_jsonl(bytes: &[u8], max_rows: usize, max_bytes: usize) -> Result<Vec<u8>, String> {
    let unreadable = |e: parquet::errors::ParquetError| unreadable_parquet(&e.to_string());
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes)).map_err(unreadable)?;
    let rows = reader.metadata().file_metadata().num_rows();
    if usize::try_from(rows).map_or(true, |rows| rows > max_rows) {
        return Err(format!(
            "the file has {rows} rows; a dataset holds at most {max_rows} items"
        ));
    }
    // The pages' values as the file declares them, before any is decompressed: a few
    // megabytes of repeated bytes can declare gigabytes. The rows as JSON are bounded below;
    // the values they are made from may be at most as large again (JSON adds the names, quotes
    // and commas that binary columns lack, so honest files stay well under it).
    let declared = reader
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|group| group.columns())
        .try_fold(0i64, |sum, column| {
            let size = column.uncompressed_size();
            (size >= 0).then(|| sum.checked_add(size)).flatten()
        })
        .ok_or("not a readable Parquet file: it declares impossible column sizes")?;
    if usize::try_from(declared).map_or(true, |declared| declared > max_bytes.saturating_mul(2)) {
        return Err(format!(
            "the file's columns come to {} MiB uncompressed; a dataset file may hold at most {} \
             MiB",
            declared / (1024 * 1024),
            max_bytes / (1024 * 1024)
        ));
    }
    let mut lines = Vec::with_capacity(bytes.len().min(max_bytes));
    for row in reader.get_row_iter(None).map_err(unreadable)? {
        let row = row_json(&row.map_err(unreadable)?);
        serde_json::to_writer(&mut lines, &row)
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

/// Why a Parquet file cannot be read, in the reader's words: a codec evalboard is built without
/// is named as a compression to avoid, not as the crate's "Disabled feature at compile time".
fn unreadable_parquet(error: &str) -> String {
    match error.split_once("Disabled feature at compile time: ") {
        Some((_, codec)) => {
            let codec = match codec.trim() {
                "flate2" => "gzip".to_owned(),
                other => other.to_ascii_uppercase(),
            };
            format!(
                "the file is compressed with {codec}, which evalboard does not read: write it \
                 with Snappy or without compression (pandas and pyarrow: compression=\"snappy\"; \
                 polars: compression=\"snappy\")"
            )
        }
        None => format!("not a readable Parquet file: {error}"),
    }
}

/// A row as JSON, as `Row::to_json_value` makes it, except that:
/// - a 32-bit float is the decimal it prints as (`0.1`), not its binary value widened to 64
///   bits (`0.10000000149011612`): a numeric answer column stored as float32 (pandas'
///   `astype("float32")`, say) keeps the numbers people wrote, and the items their digest;
/// - bytes that are UTF-8 (a text column written without its UTF-8 annotation) are the text
///   they hold, not base64 (other bytes stay base64: a column the record shape does not read,
///   an image or a UUID, is no reason to refuse the file);
/// - pandas' columns for a frame's unnamed index levels, `__index_level_N__` (any index but
///   the default range, e.g. after filtering rows; Hugging Face's files keep them without
///   pandas' metadata), are left out: they number the frame's rows, they are not the dataset's
///   fields (which the importer would refuse as unknown). A named level
///   (`df.set_index("question_id")`) keeps its name and is data like any other column.
fn row_json(row: &parquet::record::Row) -> serde_json::Value {
    serde_json::Value::Object(
        row.get_column_iter()
            .filter(|(name, _)| !is_unnamed_index_level(name))
            .map(|(name, field)| (name.clone(), field_json(field)))
            .collect(),
    )
}

/// A field as JSON (see [`row_json`]).
fn field_json(field: &parquet::record::Field) -> serde_json::Value {
    use parquet::record::Field;
    match field {
        Field::Float(n) => n
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => serde_json::Value::String(text.to_owned()),
            Err(_) => field.to_json_value(),
        },
        Field::Group(row) => row_json(row),
        Field::ListInternal(list) => {
            serde_json::Value::Array(list.elements().iter().map(field_json).collect())
        }
        other => other.to_json_value(),
    }
}

/// Whether `name` is pandas' name for an unnamed index level: `__index_level_N__`.
fn is_unnamed_index_level(name: &str) -> bool {
    name.strip_prefix("__index_level_")
        .and_then(|rest| rest.strip_suffix("__"))
        .is_some_and(|level| !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit()))
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

    use super::{as_bounded_jsonl, is_unnamed_index_level};
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
        let text = |field: &str| -> Vec<ByteArray> {
            records
                .iter()
                .map(|r| ByteArray::from(r[field].as_str().unwrap_or_default()))
                .collect()
        };
        let present = vec![1i16; records.len()];
        parquet_file(schema, properties, |column, writer| match column {
            0 | 4 => {
                let field = if column == 0 {
                    "question_id"
                } else {
                    "answer_index"
                };
                let values: Vec<i64> = records.iter().map(|r| r[field].as_i64().unwrap()).collect();
                writer
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&present), None)
                    .unwrap();
            }
            2 => {
                // A list per row: repetition 0 starts a row, 1 continues its list.
                let (mut values, mut definitions, mut repetitions) = (vec![], vec![], vec![]);
                for record in records {
                    for (i, option) in record["options"].as_array().unwrap().iter().enumerate() {
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
        })
    }

    /// A file of one row group of `schema`, each column written by `write(its index, its
    /// writer)`.
    fn parquet_file(
        schema: parquet::schema::types::Type,
        properties: WriterProperties,
        mut write: impl FnMut(usize, &mut parquet::file::writer::SerializedColumnWriter<'_>),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(properties)).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut column = 0;
        while let Some(mut writer) = group.next_column().unwrap() {
            write(column, &mut writer);
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

    /// Numeric questions (GSM8K's columns) as a filtered pandas frame writes them: its index in
    /// a `__index_level_0__` column, named in the `pandas` metadata when `named`.
    fn gsm8k_frame_parquet(rows: &[(&str, &str)], named: bool) -> Vec<u8> {
        gsm8k_frame_parquet_indexed(rows, named.then_some("__index_level_0__"))
    }

    /// [`gsm8k_frame_parquet`], its third column (`__index_level_0__`) named in the metadata
    /// as the index `index` says, if any.
    fn gsm8k_frame_parquet_indexed(rows: &[(&str, &str)], index: Option<&str>) -> Vec<u8> {
        let schema = parse_message_type(
            "message schema {
                OPTIONAL BYTE_ARRAY question (UTF8);
                OPTIONAL BYTE_ARRAY answer (UTF8);
                OPTIONAL INT64 __index_level_0__;
            }",
        )
        .unwrap();
        let properties = WriterProperties::builder()
            .set_key_value_metadata(index.map(|index| {
                vec![parquet::file::metadata::KeyValue::new(
                    "pandas".to_owned(),
                    format!(r#"{{"index_columns": ["{index}"], "columns": []}}"#),
                )]
            }))
            .build();
        let present = vec![1i16; rows.len()];
        parquet_file(schema, properties, |column, writer| {
            if column == 2 {
                let index: Vec<i64> = (0..rows.len() as i64).map(|i| 3 * i + 7).collect();
                writer
                    .typed::<Int64Type>()
                    .write_batch(&index, Some(&present), None)
                    .unwrap();
            } else {
                let values: Vec<ByteArray> = rows
                    .iter()
                    .map(|row| ByteArray::from(if column == 0 { row.0 } else { row.1 }))
                    .collect();
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&present), None)
                    .unwrap();
            }
        })
    }

    #[test]
    fn a_pandas_frames_index_is_not_read_as_a_field() {
        // A frame filtered before it was written keeps its rows' original numbers as its index.
        let rows = [
            ("What is 2 + 3?", "2 + 3 = 5\n#### 5"),
            ("What is 4 * 6?", "4 * 6 = 24\n#### 24"),
        ];
        let imported = parse_items(ImportFormat::Parquet, &gsm8k_frame_parquet(&rows, true))
            .expect("the index is not a field");
        let answers: Vec<String> = imported
            .items
            .iter()
            .map(|item| item.answer.to_string())
            .collect();
        assert_eq!(answers, ["5", "24"]);
        // Without pandas' metadata too (Hugging Face's files replace it with their own): the
        // name is pandas' own.
        let unnamed = parse_items(ImportFormat::Parquet, &gsm8k_frame_parquet(&rows, false))
            .expect("the index is not a field");
        assert_eq!(unnamed.items, imported.items);
        // A named index level (`set_index("question")`) is data: it stays a field.
        let named = gsm8k_frame_parquet_indexed(&rows, Some("question"));
        let lines =
            String::from_utf8(as_bounded_jsonl(&named, rows.len(), usize::MAX).unwrap()).unwrap();
        assert!(lines.contains(r#""question":"What is 2 + 3?""#));
        assert!(!lines.contains("__index_level_0__"));
        assert!(is_unnamed_index_level("__index_level_12__"));
        assert!(!is_unnamed_index_level("__index_level___"));
        assert!(!is_unnamed_index_level("question_id"));
    }

    #[test]
    fn a_codec_evalboard_cannot_read_is_named() {
        // One numeric question, written by pyarrow 26 with
        // `pq.write_table(pa.table({"question": ["What is 2 + 3?"], "answer": ["5"]}),
        // "zstd.parquet", compression="zstd")` (polars' default codec).
        let zstd = include_bytes!("testdata/zstd.parquet");
        let refused = parse_items(ImportFormat::Parquet, zstd).unwrap_err();
        assert!(
            refused.problems[0]
                .message
                .starts_with("the file is compressed with ZSTD, which evalboard does not read"),
            "{:?}",
            refused.problems
        );
        assert!(
            super::unreadable_parquet("Disabled feature at compile time: flate2")
                .contains("with gzip,")
        );
        assert!(super::unreadable_parquet("EOF").starts_with("not a readable Parquet file: EOF"));
    }

    #[test]
    fn a_text_column_without_its_annotation_is_read_as_text() {
        let schema = |annotation: &str| {
            parse_message_type(&format!(
                "message schema {{ OPTIONAL BYTE_ARRAY question {annotation}; \
                 OPTIONAL BYTE_ARRAY answer (UTF8); }}"
            ))
            .unwrap()
        };
        let file = |question: &[u8]| {
            parquet_file(schema(""), Default::default(), |column, writer| {
                let value = if column == 0 { question } else { b"5" };
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from(value.to_vec())], Some(&[1]), None)
                    .unwrap();
            })
        };
        let imported = parse_items(ImportFormat::Parquet, &file(b"What is 2 + 3?")).unwrap();
        assert_eq!(imported.items[0].question, "What is 2 + 3?");
        // Other bytes (an image, a UUID) stay as they were read, base64: a column the record
        // shape does not read is no reason to refuse the file.
        let binary = parse_items(ImportFormat::Parquet, &file(b"\xff\xfe")).unwrap();
        assert_eq!(binary.items[0].question, "//4=");
    }

    #[test]
    fn a_float32_answer_is_the_number_written() {
        use parquet::data_type::FloatType;
        let schema = parse_message_type(
            "message schema {
                OPTIONAL BYTE_ARRAY question (UTF8);
                OPTIONAL FLOAT answer;
            }",
        )
        .unwrap();
        let out = parquet_file(schema, Default::default(), |column, writer| {
            if column == 0 {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from("What is 1 / 10?")], Some(&[1]), None)
                    .unwrap();
            } else {
                writer
                    .typed::<FloatType>()
                    .write_batch(&[0.1f32], Some(&[1]), None)
                    .unwrap();
            }
        });
        let imported = parse_items(ImportFormat::Parquet, &out).unwrap();
        assert_eq!(imported.items[0].answer.to_string(), "0.1");
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
        // A file whose values alone exceed twice the bound is refused before a page is read.
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let declared: i64 = SerializedFileReader::new(bytes::Bytes::copy_from_slice(&parquet))
            .unwrap()
            .metadata()
            .row_groups()
            .iter()
            .flat_map(|group| group.columns())
            .map(|column| column.uncompressed_size())
            .sum();
        let too_large =
            as_bounded_jsonl(&parquet, records.len(), declared as usize / 2 - 1).unwrap_err();
        // With room for its declared values, the file is read (its rows then checked as text).
        let read = as_bounded_jsonl(&parquet, records.len(), declared as usize / 2);
        assert!(
            !read
                .as_ref()
                .is_err_and(|e| e.starts_with("the file's columns come to")),
            "{read:?}"
        );
        assert!(
            too_large.starts_with("the file's columns come to"),
            "{too_large}"
        );
        let too_long = as_bounded_jsonl(&parquet, records.len(), whole.len() - 1).unwrap_err();
        assert!(
            too_long.starts_with("the file's rows come to more than"),
            "{too_long}"
        );
    }
}
