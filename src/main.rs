//! The `pipec` binary: all behaviour lives in [`pipec::cli`].

// The compiler allocates many small nodes; mimalloc is markedly faster than the system
// allocator for that and keeps peak memory lower (see ARCHITECTURE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pipec::cli::main()
}
