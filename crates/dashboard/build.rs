//! include_dir cannot tell cargo which files it read: rebuild when the built assets change.

fn main() {
    println!("cargo:rerun-if-changed=web/dist");
}
