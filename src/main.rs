//! `dbcheckin`: see the library's `cli` module; `main` only hands over.

fn main() -> std::process::ExitCode {
    dbcheckin::cli::main()
}
