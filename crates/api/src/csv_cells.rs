//! CSV rows that a spreadsheet opens as data, never as formulas.
//!
//! A CSV export is opened in Excel, LibreOffice or Google Sheets more often than it is parsed,
//! and those programs run a cell that starts with `=`, `+`, `-` or `@` (or a tab or a carriage
//! return before one) as a formula. The cells hold text from outside the server — questions of
//! an imported dataset, a model's answer, a provider's error message — so a dataset or an
//! answer could otherwise make a spreadsheet fetch a URL or run a command when the file is
//! opened ("CSV injection"). Such a cell is written with a leading `'`, which the spreadsheets
//! show as text and hide; a plain number (`-3`, `+0.5`, `1e-3`) is left as it is, since it is
//! no formula and analyses read it as a number. The JSON Lines export keeps every text exact.

/// Writes one row, each cell made safe to open in a spreadsheet.
pub(crate) fn write_row(
    writer: &mut csv::Writer<Vec<u8>>,
    cells: impl IntoIterator<Item = String>,
) {
    writer
        .write_record(cells.into_iter().map(spreadsheet_safe))
        .expect("writing to memory");
}

/// `cell`, with a leading `'` when a spreadsheet would take it for a formula.
fn spreadsheet_safe(cell: String) -> String {
    let starts_formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if starts_formula && !is_plain_number(&cell) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// Whether `text` is a decimal number with an optional sign and exponent, and nothing else.
fn is_plain_number(text: &str) -> bool {
    fn unsigned(s: &str) -> &str {
        s.strip_prefix(['+', '-']).unwrap_or(s)
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let number = unsigned(text);
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(unsigned(exponent))),
        None => (number, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    !(whole.is_empty() && fraction.is_empty())
        && digits(whole)
        && digits(fraction)
        && exponent.is_none_or(|e| !e.is_empty() && digits(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_written_as_text() {
        for formula in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1+1",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A2)",
            "\t=1",
            "\r=1",
            "-",
            "- a bullet point",
            "-inf",
            "-1,000",
            "+.",
            "-1e",
        ] {
            assert_eq!(spreadsheet_safe(formula.to_owned()), format!("'{formula}"));
        }
    }

    #[test]
    fn numbers_and_other_text_are_left_as_they_are() {
        for cell in [
            "-3",
            "+5",
            "-0.5",
            ".5",
            "-.5",
            "1.",
            "1e-3",
            "-2E+10",
            "42",
            "",
            "The answer is (A)",
            "[\"a\"]",
            " =1",
            "a=b",
            "'quoted",
        ] {
            assert_eq!(spreadsheet_safe(cell.to_owned()), cell);
        }
    }

    #[test]
    fn a_row_is_written_with_its_cells_made_safe() {
        let mut writer = csv::Writer::from_writer(Vec::new());
        write_row(
            &mut writer,
            ["=1+1".to_owned(), "-7".to_owned(), "a,b".to_owned()],
        );
        let bytes = writer.into_inner().unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), "'=1+1,-7,\"a,b\"\n");
    }
}
