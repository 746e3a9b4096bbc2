//! `tracer-demo proxy`: a node proxy in the manner of Istio ambient's ztunnel.
//!
//! On the client's node (`--role outbound`) it accepts the app's TCP connections and carries
//! all of them over ONE long-lived tunnel connection to the proxy on the service's node
//! (`--role inbound`), which opens one connection to the service per stream.
//!
//! ztunnel speaks HTTP/2 CONNECT (HBONE) over mTLS; this demo uses a simpler framing that has
//! the same shape on the wire - many streams multiplexed on one TCP connection:
//!
//! ```text
//! frame = stream id (u32, big endian) | kind (u8) | payload length (u32, big endian) | payload
//! kind  = 1 OPEN  (new stream; no payload)
//!         2 DATA  (bytes of the stream, up to 64 KiB)
//!         3 CLOSE (the sender will send no more on this stream: the receiver shuts down the
//!                  write side of its socket; a stream is gone once CLOSE went both ways)
//! ```
//!
//! Where the write coalescing comes from: each proxy forwards what ONE read returned as ONE
//! frame; one writer thread per tunnel writes every frame queued so far in ONE write (as an
//! HTTP/2 connection task does); the tunnel is read through a large buffer, and the DATA of one
//! stream found in one tunnel read is written to the app in ONE write. So whenever the
//! service's two writes are both queued before the tunnel writer gets to write, they travel as
//! one segment and the client reads them in one call. `--coalesce-window` sets how long the
//! writer waits for company; why the demo needs it is explained in the `demo` module notes.
use std::{
    collections::HashMap,
    io::{Read as _, Write as _},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    process::ExitCode,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
        mpsc::{self, Receiver, Sender},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// Frame header length: stream id, kind, payload length.
pub const FRAME_HEADER_BYTES: usize = 9;
/// Largest payload one DATA frame carries (also the size of the proxies' socket reads).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// How much of the tunnel one read may take in: many frames at once.
const TUNNEL_READ_BYTES: usize = 256 * 1024;

/// Frame kinds.
const OPEN: u8 = 1;
const DATA: u8 = 2;
const CLOSE: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Client's node: accept app connections, send them through the tunnel.
    Outbound,
    /// Service's node: accept tunnels, open one service connection per stream.
    Inbound,
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    #[arg(long, value_enum)]
    pub role: Role,
    /// Outbound: where the app connects (e.g. 127.0.0.1:15001). Inbound: where tunnels arrive
    /// (e.g. 10.250.0.2:15008).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Outbound only: the inbound proxy's tunnel address.
    #[arg(long, value_name = "ADDR", required_if_eq("role", "outbound"))]
    pub peer: Option<SocketAddr>,
    /// Inbound only: the service every stream is connected to.
    #[arg(long, value_name = "ADDR", required_if_eq("role", "inbound"))]
    pub target: Option<SocketAddr>,
    /// How long the tunnel writer holds a frame read from an app socket for more frames to
    /// send with it in one write (0: send what is queued at once). Stands in for the time a
    /// real node proxy spends between reading a socket and writing the tunnel (task hand-off,
    /// TLS, HTTP/2 framing), in which ztunnel finds an app's second write queued behind the first.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = tracer::collect::parse_delay)]
    pub coalesce_window: Duration,
}

pub fn run(args: &ProxyArgs) -> anyhow::Result<ExitCode> {
    let listener = super::listen(args.listen)?;
    if !args.coalesce_window.is_zero() {
        super::tighten_timer_slack();
    }
    let window = args.coalesce_window;
    match (args.role, args.peer, args.target) {
        (Role::Outbound, Some(peer), _) => {
            let tunnel = connect_tunnel(peer, Duration::from_secs(5))?;
            super::announce_ready(&listener.local_addr()?);
            outbound(&listener, &tunnel, window)
        }
        (Role::Inbound, _, Some(target)) => {
            super::announce_ready(&listener.local_addr()?);
            inbound(&listener, target, window)
        }
        _ => Err(tracer::error::user(
            tracer::error::ErrorKind::Usage,
            "an outbound proxy needs --peer and an inbound proxy needs --target",
        )),
    }
}

/// Connects to the inbound proxy, retrying while it starts.
fn connect_tunnel(peer: SocketAddr, patience: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + patience;
    loop {
        match TcpStream::connect(peer) {
            Ok(socket) => {
                socket.set_nodelay(true)?;
                return Ok(socket);
            }
            Err(error) if Instant::now() >= deadline => {
                return Err(tracer::error::user(
                    tracer::error::ErrorKind::TargetNotFound,
                    format!(
                        "cannot reach the peer proxy at {peer}: {error}; start the inbound proxy first"
                    ),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Client's node: every accepted app connection becomes a stream of the one tunnel.
pub fn outbound(
    listener: &TcpListener,
    tunnel_socket: &TcpStream,
    window: Duration,
) -> anyhow::Result<ExitCode> {
    let tunnel = Arc::new(Tunnel::new(tunnel_socket.try_clone()?, window));
    let reader = {
        let tunnel = Arc::clone(&tunnel);
        let socket = tunnel_socket.try_clone()?;
        std::thread::spawn(move || tunnel.pump_from_tunnel(socket, |_| None))
    };
    let next_id = AtomicU32::new(1);
    for app in listener.incoming() {
        if reader.is_finished() {
            break;
        }
        let Ok(app) = app else { continue };
        let _ = app.set_nodelay(true);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let app = Arc::new(app);
        tunnel.insert(id, Arc::clone(&app));
        tunnel
            .send(id, OPEN, &[])
            .context("the tunnel to the peer proxy broke")?;
        let tunnel = Arc::clone(&tunnel);
        std::thread::spawn(move || tunnel.pump_to_tunnel(id, &app));
    }
    anyhow::bail!("the tunnel to the peer proxy closed")
}

/// Service's node: serves any number of tunnels; each OPEN connects to `target`.
pub fn inbound(
    listener: &TcpListener,
    target: SocketAddr,
    window: Duration,
) -> anyhow::Result<ExitCode> {
    for tunnel_socket in listener.incoming() {
        let Ok(tunnel_socket) = tunnel_socket else {
            continue;
        };
        let _ = tunnel_socket.set_nodelay(true);
        let Ok(writer) = tunnel_socket.try_clone() else {
            continue;
        };
        let tunnel = Arc::new(Tunnel::new(writer, window));
        std::thread::spawn(move || {
            let opener = Arc::clone(&tunnel);
            tunnel.pump_from_tunnel(tunnel_socket, move |id| {
                let service = TcpStream::connect(target).ok()?;
                let _ = service.set_nodelay(true);
                let service = Arc::new(service);
                opener.insert(id, Arc::clone(&service));
                let pump = Arc::clone(&opener);
                let socket = Arc::clone(&service);
                std::thread::spawn(move || pump.pump_to_tunnel(id, &socket));
                Some(service)
            });
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// One tunnel connection and the streams it carries.
struct Tunnel {
    /// Encoded frames for the tunnel writer thread, which alone writes the tunnel socket.
    frames: Sender<Vec<u8>>,
    streams: Mutex<HashMap<u32, Stream>>,
}

struct Stream {
    socket: Arc<TcpStream>,
    /// We sent CLOSE (our app stopped sending).
    sent_close: bool,
    /// The peer sent CLOSE (its app stopped sending).
    got_close: bool,
}

impl Tunnel {
    fn new(writer: TcpStream, window: Duration) -> Self {
        let (frames, queue) = mpsc::channel();
        std::thread::spawn(move || write_tunnel(writer, &queue, window));
        Self {
            frames,
            streams: Mutex::new(HashMap::new()),
        }
    }

    fn insert(&self, id: u32, socket: Arc<TcpStream>) {
        self.lock_streams().insert(
            id,
            Stream {
                socket,
                sent_close: false,
                got_close: false,
            },
        );
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Stream>> {
        // A panicking pump thread cannot leave the map half-updated: every update is one call.
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one frame for the tunnel writer.
    fn send(&self, id: u32, kind: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
        encode_frame(&mut frame, id, kind, payload);
        self.frames
            .send(frame)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    /// App socket -> tunnel: what one read returned becomes one DATA frame.
    fn pump_to_tunnel(&self, id: u32, socket: &TcpStream) {
        let mut buffer = vec![0_u8; MAX_PAYLOAD_BYTES];
        let mut reader = socket;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if self.send(id, DATA, &buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = self.send(id, CLOSE, &[]);
        let mut streams = self.lock_streams();
        if let Some(stream) = streams.get_mut(&id) {
            stream.sent_close = true;
            if stream.got_close {
                streams.remove(&id);
            }
        }
    }

    /// Tunnel -> app sockets. Reads the tunnel through a large buffer and, for each stream,
    /// writes all the DATA found in one read with one write.
    fn pump_from_tunnel(
        &self,
        mut tunnel: TcpStream,
        mut on_open: impl FnMut(u32) -> Option<Arc<TcpStream>>,
    ) {
        let mut buffer = vec![0_u8; TUNNEL_READ_BYTES];
        let mut filled = 0;
        // Per read: the streams that got data, in arrival order, and their bytes.
        let mut order: Vec<u32> = Vec::new();
        let mut pending: HashMap<u32, Vec<u8>> = HashMap::new();
        loop {
            let n = match tunnel.read(&mut buffer[filled..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            filled += n;
            let mut at = 0;
            while let Some((id, kind, payload)) = decode_frame(&buffer[at..filled]) {
                at += FRAME_HEADER_BYTES + payload.len();
                match kind {
                    OPEN => {
                        let opened = on_open(id).is_some();
                        if !opened {
                            // The service refused: tell the peer the stream is over.
                            let _ = self.send(id, CLOSE, &[]);
                        }
                    }
                    DATA => {
                        let bytes = pending.entry(id).or_default();
                        if bytes.is_empty() {
                            order.push(id);
                        }
                        bytes.extend_from_slice(payload);
                    }
                    CLOSE => {
                        self.flush(id, &mut pending);
                        pending.remove(&id);
                        self.peer_closed(id);
                    }
                    _ => {} // Unknown kinds are skipped: the length still frames them.
                }
            }
            for id in order.drain(..) {
                self.flush(id, &mut pending);
            }
            buffer.copy_within(at..filled, 0);
            filled -= at;
        }
        // The tunnel is gone: so are all its streams.
        for (_, stream) in self.lock_streams().drain() {
            let _ = stream.socket.shutdown(Shutdown::Both);
        }
    }

    /// Writes a stream's pending bytes to its app socket in one write.
    fn flush(&self, id: u32, pending: &mut HashMap<u32, Vec<u8>>) {
        let Some(bytes) = pending.get_mut(&id) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        let socket = self.lock_streams().get(&id).map(|s| Arc::clone(&s.socket));
        if let Some(socket) = socket {
            // A failed write means the app closed; its pump sends CLOSE.
            let _ = (&*socket).write_all(bytes);
        }
        bytes.clear();
    }

    fn peer_closed(&self, id: u32) {
        let mut streams = self.lock_streams();
        if let Some(stream) = streams.get_mut(&id) {
            let _ = stream.socket.shutdown(Shutdown::Write);
            stream.got_close = true;
            if stream.sent_close {
                streams.remove(&id);
            }
        }
    }
}

/// The tunnel writer: like an HTTP/2 connection task, it writes every frame queued so far in
/// one write; with a `window` it first waits that long after the oldest queued frame for
/// more. Exits when the tunnel breaks or every sender is gone.
fn write_tunnel(mut socket: TcpStream, queue: &Receiver<Vec<u8>>, window: Duration) {
    let mut batch = Vec::with_capacity(TUNNEL_READ_BYTES);
    while let Ok(first) = queue.recv() {
        batch.clear();
        batch.extend_from_slice(&first);
        if !window.is_zero() {
            let deadline = Instant::now() + window;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match queue.recv_timeout(left) {
                    Ok(frame) => batch.extend_from_slice(&frame),
                    Err(_) => break,
                }
            }
        }
        while let Ok(frame) = queue.try_recv() {
            batch.extend_from_slice(&frame);
        }
        if socket.write_all(&batch).is_err() {
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Appends one frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, id: u32, kind: u8, payload: &[u8]) {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The first complete frame in `bytes`: (stream id, kind, payload), or `None` if incomplete.
#[must_use]
pub fn decode_frame(bytes: &[u8]) -> Option<(u32, u8, &[u8])> {
    let header = bytes.get(..FRAME_HEADER_BYTES)?;
    let id = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let kind = header[4];
    let length = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
    let payload = bytes.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length)?;
    Some((id, kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_their_last_byte() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, 7, DATA, b"hello");
        encode_frame(&mut wire, 8, CLOSE, b"");
        assert_eq!(wire.len(), 2 * FRAME_HEADER_BYTES + 5);
        assert_eq!(decode_frame(&wire), Some((7, DATA, &b"hello"[..])));
        assert_eq!(decode_frame(&wire[14..]), Some((8, CLOSE, &b""[..])));
        assert_eq!(decode_frame(&wire[..13]), None);
        assert_eq!(decode_frame(&wire[..3]), None);
    }
}
