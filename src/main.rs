//! The `pipec` binary: all behaviour lives in [`pipec::cli`].
fn main() -> std::process::ExitCode {
    pipec::cli::main()
}
