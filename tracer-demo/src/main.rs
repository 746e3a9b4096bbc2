use clap::Parser as _;

fn main() -> std::process::ExitCode {
    tracer::error::exit("tracer-demo", tracer_demo::run(tracer_demo::Cli::parse()))
}
