//! `sluice`: parses the command line and hands over to the library.

/// mimalloc instead of the system allocator: each request allocates and frees many small
/// buffers across the runtime's threads, which glibc's malloc serves with more locking and
/// consolidation work (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(sluice::cli::main());
}
