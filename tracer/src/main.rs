use clap::Parser as _;

fn main() -> std::process::ExitCode {
    tracer::error::exit("tracer", tracer::run(tracer::cli::Cli::parse()))
}
