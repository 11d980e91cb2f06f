//! Standard output, whose write failures are told apart from the server's: a reader that went
//! away (`| head`) ends a command quietly, a full disk is this machine's failure (exit status
//! 1), and neither is "the server refused or could not be reached" (exit status 2). The mark is
//! needed because a failed read of a response body is an `io::Error` too.

use std::io::{self, Write};

/// A writer whose errors carry [`OutputFailed`].
pub(crate) struct StandardOutput<W>(pub(crate) W);

/// Writing to standard output failed.
#[derive(Debug)]
struct OutputFailed(io::Error);

impl std::fmt::Display for OutputFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to standard output: {}", self.0)
    }
}

impl std::error::Error for OutputFailed {}

fn marked(error: io::Error) -> io::Error {
    // Already marked: `write_all` hands a `write` error back as it came.
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<OutputFailed>())
    {
        return error;
    }
    io::Error::new(error.kind(), OutputFailed(error))
}

impl<W: Write> Write for StandardOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(marked)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(marked)
    }
}

/// Writes `line` and a newline to standard output; a failure is one [`output_failure`] tells.
pub(crate) fn print_line(line: impl std::fmt::Display) -> io::Result<()> {
    writeln!(StandardOutput(io::stdout().lock()), "{line}")
}

/// How a command's failure to write its output ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFailure {
    /// The reader went away (`| head`, `| true`): what the command did is done, and there is
    /// nobody left to tell.
    Closed,
    /// Anything else (a full disk): this machine's failure.
    Failed,
}

/// Whether `error` is a failure to write standard output, and which.
pub(crate) fn output_failure(error: &anyhow::Error) -> Option<OutputFailure> {
    error.chain().find_map(|cause| {
        let io = cause.downcast_ref::<io::Error>()?;
        io.get_ref()?.downcast_ref::<OutputFailed>()?;
        Some(if io.kind() == io::ErrorKind::BrokenPipe {
            OutputFailure::Closed
        } else {
            OutputFailure::Failed
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with `kind`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(self.0.into())
        }
    }

    fn failure_writing_to(kind: io::ErrorKind) -> Option<OutputFailure> {
        let mut out = StandardOutput(Failing(kind));
        let error = anyhow::Error::from(writeln!(out, "a line").unwrap_err()).context("listing");
        output_failure(&error)
    }

    #[test]
    fn a_closed_reader_and_a_full_disk_are_told_apart() {
        assert_eq!(
            failure_writing_to(io::ErrorKind::BrokenPipe),
            Some(OutputFailure::Closed)
        );
        assert_eq!(
            failure_writing_to(io::ErrorKind::StorageFull),
            Some(OutputFailure::Failed)
        );
    }

    #[test]
    fn other_io_errors_are_not_output_failures() {
        // A response body that broke off reads as an `io::Error` of the same kind.
        let read: anyhow::Error = io::Error::from(io::ErrorKind::BrokenPipe).into();
        assert_eq!(output_failure(&read), None);
    }

    #[test]
    fn the_failure_says_where_it_happened() {
        let mut out = StandardOutput(Failing(io::ErrorKind::StorageFull));
        let error = out.write_all(b"x").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("writing to standard output: "),
            "{error}"
        );
    }
}
