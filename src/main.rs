//! The `pipec` binary: all behaviour lives in [`pipec::cli`].

mod allocator;

fn main() -> std::process::ExitCode {
    pipec::cli::main()
}
