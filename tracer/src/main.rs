fn main() -> std::process::ExitCode {
    tracer::cmd::main()
}
