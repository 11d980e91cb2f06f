//! The binary carries its database clients: nothing to install beside it (issue 17).

use super::BINARY;

/// libpq and SQLite are compiled in, so the binary asks the dynamic linker for neither. (A
/// dependency turning on pq-sys's `pkg-config` route would bring the system's libpq back.)
#[test]
#[cfg(target_os = "linux")]
fn the_binary_needs_no_database_library_from_the_system() {
    let output = match std::process::Command::new("ldd").arg(BINARY).output() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("skipped: ldd cannot be run here ({error})");
            return;
        }
    };
    let libraries = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "ldd failed: {libraries}");
    assert!(
        libraries.contains("libc.so"),
        "not ldd's usual output: {libraries}"
    );
    for library in ["libpq", "libsqlite3", "libssl"] {
        assert!(
            !libraries.contains(library),
            "{library} is linked: {libraries}"
        );
    }
}
