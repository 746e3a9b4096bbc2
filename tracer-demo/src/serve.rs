//! `tracer-demo serve`: a stand-in for Bookinfo's "details" service as the blog found it.
//!
//! Each response goes out in TWO writes, headers (180 B) then body (178 B), with `TCP_NODELAY`
//! on (`--nagle` leaves it off, as before the fix), exactly like `WEBrick` after the `TCP_NODELAY` fix: nothing in the server merges them, so a
//! client on the other end sees them as two reads unless something in between coalesces them.
//! Keep-alive is honoured, and so is `Connection: close`. One thread per connection keeps the
//! syscalls per request exact: one read for the request, two writes for the response (the
//! connection's side is [`http::answer`], shared with the benchmark's HTTP loop).
use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;

use super::http;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:9080.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Time the server spends between the header write and the body write (like a Ruby app
    /// rendering the body after sending headers), e.g. 50us; 0 writes them back to back.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = tracer::collect::parse_delay)]
    pub body_delay: Duration,
    /// Leave Nagle's algorithm on (no `TCP_NODELAY`), as the Bookinfo details service did before
    /// Istio 1.23: the body waits for the client's ACK of the headers.
    #[arg(long)]
    pub nagle: bool,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = super::listen(args.listen)?;
    if !args.body_delay.is_zero() {
        super::tighten_timer_slack();
    }
    super::announce_ready(&listener.local_addr()?);
    serve(&listener, args.body_delay, !args.nagle)
}

/// Accepts connections forever, one thread each.
pub fn serve(
    listener: &TcpListener,
    body_delay: Duration,
    nodelay: bool,
) -> anyhow::Result<ExitCode> {
    loop {
        let (socket, _) = listener.accept().context("accept failed")?;
        std::thread::spawn(move || {
            // A client that vanishes mid-request is normal under load; nothing to report.
            let _ = handle(socket, body_delay, nodelay);
        });
    }
}

/// Serves one connection (see [`http::answer`]).
fn handle(mut socket: TcpStream, body_delay: Duration, nodelay: bool) -> std::io::Result<()> {
    socket.set_nodelay(nodelay)?;
    http::answer(&mut socket, body_delay)?;
    Ok(())
}
