//! `tracer-demo proxy`: a node proxy modelled on Istio ambient's ztunnel data path, built on
//! the crates ztunnel itself is built on (tokio, h2, rustls).
//!
//! ```text
//! node A (client)                                   node B (service)
//! app --iptables REDIRECT--> proxy --outbound-->  ==== one HTTP/2 connection over mTLS ====>
//!                             (SO_ORIGINAL_DST)        CONNECT 10.250.0.2:9080 per app connection
//!                                                  proxy --inbound--> service (new TCP connection)
//! ```
//!
//! - **Outbound** (`--role outbound`, the client's node): accepts the app connections that
//!   iptables redirected to it, finds where the app meant to go (`SO_ORIGINAL_DST`, or
//!   `--destination`), and opens one HTTP/2 CONNECT stream per app connection on a pooled
//!   connection to the peer node's proxy: mutual TLS 1.3 (both sides present a certificate from
//!   the mesh CA), ALPN h2, like ztunnel's HBONE on port 15008. The pooled connection is made
//!   lazily by the first app connection and then shared (one pool entry for the one peer).
//! - **Inbound** (`--role inbound`, the service's node): terminates mTLS, accepts CONNECT
//!   streams, connects to each stream's authority and copies both ways.
//! - **Copying**: per direction, a read through a buffer that starts at 1 KiB and grows to
//!   16 KiB when a read fills it (ztunnel's copy grows its buffer the same way for bulk
//!   transfers), one DATA frame per read, one app write per DATA frame received; sockets with
//!   `TCP_NODELAY`; HTTP/2 windows of 4 MiB per stream and 16 MiB per connection. Frames are
//!   written by h2's connection task, which flushes every frame queued when it runs through
//!   rustls in as few TLS records as it can. Whatever write coalescing a client sees through
//!   this pipeline is the pipeline's own: there is no batching window unless one is asked for.
//! - **`--coalesce-window` (a what-if, not ztunnel)**: after a read from the service, the
//!   inbound proxy keeps reading for this long before sending the frame, so two app writes that
//!   arrive within the window travel as one DATA frame. Rounded up to tokio's 1 ms timer.
use std::{
    net::SocketAddr, os::fd::AsRawFd as _, path::PathBuf, process::ExitCode, sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use bytes::Bytes;
use h2::{RecvStream, SendStream, client::SendRequest};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::Mutex,
};

use super::mesh_tls;

/// The read buffer a copy starts with, and the size it grows to when a read fills it.
pub const INITIAL_BUFFER_BYTES: usize = 1024;
pub const LARGE_BUFFER_BYTES: usize = 16 * 1024;
/// HTTP/2 flow-control windows (ztunnel's defaults) and the largest frame either side accepts.
const STREAM_WINDOW_BYTES: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;
const MAX_FRAME_BYTES: u32 = 1024 * 1024;
/// Worker threads of the proxy's runtime (ztunnel's default is 2).
const WORKER_THREADS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Client's node: accept app connections, send each as a CONNECT stream to the peer.
    Outbound,
    /// Service's node: terminate mTLS, connect each CONNECT stream to its authority.
    Inbound,
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    #[arg(long, value_enum)]
    pub role: Role,
    /// Outbound: where redirected app connections arrive (e.g. 127.0.0.1:15001). Inbound:
    /// where tunnels arrive (e.g. 10.250.0.2:15008).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Outbound only: the inbound proxy's tunnel address.
    #[arg(long, value_name = "ADDR", required_if_eq("role", "outbound"))]
    pub peer: Option<SocketAddr>,
    /// Outbound only: the destination of app connections that were not redirected by iptables
    /// (without it, such connections are refused).
    #[arg(long, value_name = "ADDR")]
    pub destination: Option<SocketAddr>,
    /// Folder with the mesh CA and the node certificates (`tracer-demo certs`).
    #[arg(long, value_name = "DIR")]
    pub certs: PathBuf,
    /// The certificate this proxy presents: `node-a` or `node-b` (default: node-a outbound,
    /// node-b inbound).
    #[arg(long)]
    pub node: Option<String>,
    /// A what-if, not ztunnel: how long the inbound proxy keeps reading the service after a
    /// read before it sends what it has as one frame (0: send each read at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = tracer::collect::parse_delay)]
    pub coalesce_window: Duration,
}

pub fn run(args: &ProxyArgs) -> anyhow::Result<ExitCode> {
    let listener = super::listen(args.listen)?;
    listener.set_nonblocking(true)?;
    let node = args.node.clone().unwrap_or_else(|| {
        match args.role {
            Role::Outbound => mesh_tls::NODES[0],
            Role::Inbound => mesh_tls::NODES[1],
        }
        .to_owned()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    match (args.role, args.peer) {
        (Role::Outbound, Some(peer)) => {
            let config = mesh_tls::client_config(&args.certs, &node)?;
            let pool = Arc::new(Pool {
                peer,
                connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
                sender: Mutex::new(None),
            });
            let destination = args.destination;
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                super::announce_ready(&listener.local_addr()?);
                outbound(listener, pool, destination).await
            })
        }
        (Role::Inbound, _) => {
            let config = mesh_tls::server_config(&args.certs, &node)?;
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let window = args.coalesce_window;
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                super::announce_ready(&listener.local_addr()?);
                inbound(listener, acceptor, window).await
            })
        }
        (Role::Outbound, None) => Err(tracer::error::user(
            tracer::error::ErrorKind::Usage,
            "an outbound proxy needs --peer",
        )),
    }
}

/// The outbound proxy's one pooled HTTP/2 connection to its peer, made on first use.
struct Pool {
    peer: SocketAddr,
    connector: tokio_rustls::TlsConnector,
    sender: Mutex<Option<SendRequest<Bytes>>>,
}

impl Pool {
    /// A handle on the pooled connection, connecting (TCP, mTLS, HTTP/2) if there is none or
    /// the last one broke.
    async fn sender(&self) -> anyhow::Result<SendRequest<Bytes>> {
        let mut pooled = self.sender.lock().await;
        if let Some(sender) = pooled.as_ref()
            && let Ok(ready) = sender.clone().ready().await
        {
            return Ok(ready);
        }
        let tcp = TcpStream::connect(self.peer)
            .await
            .with_context(|| format!("cannot reach the peer proxy at {}", self.peer))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(mesh_tls::server_name(), tcp)
            .await
            .context("the mTLS handshake with the peer proxy failed")?;
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .max_frame_size(MAX_FRAME_BYTES)
            .handshake::<_, Bytes>(tls)
            .await?;
        tokio::spawn(async move {
            // Ends when the peer goes away; the next app connection makes a new one.
            let _ = connection.await;
        });
        *pooled = Some(sender.clone());
        Ok(sender.ready().await?)
    }
}

async fn outbound(
    listener: TcpListener,
    pool: Arc<Pool>,
    fixed_destination: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    loop {
        let (app, _) = listener.accept().await?;
        let _ = app.set_nodelay(true);
        let Some(destination) = original_destination(&app).or(fixed_destination) else {
            continue; // Not redirected and no --destination: nowhere to send it.
        };
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            if let Err(error) = outbound_stream(app, destination, &pool).await {
                note_line!("tracer-demo proxy: {destination}: {error:#}");
            }
        });
    }
}

/// One app connection: a CONNECT stream to `destination` through the peer, copied both ways.
async fn outbound_stream(
    app: TcpStream,
    destination: SocketAddr,
    pool: &Pool,
) -> anyhow::Result<()> {
    let mut sender = pool.sender().await?;
    let request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(destination.to_string())
        .body(())?;
    let (response, send) = sender.send_request(request, false)?;
    let response = response.await?;
    if response.status() != http::StatusCode::OK {
        anyhow::bail!("the peer refused the stream ({})", response.status());
    }
    let (read, write) = app.into_split();
    let (up, down) = tokio::join!(
        app_to_tunnel(read, send, Duration::ZERO),
        tunnel_to_app(response.into_body(), write)
    );
    up.and(down)
}

async fn inbound(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    window: Duration,
) -> anyhow::Result<ExitCode> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(error) = inbound_connection(tcp, acceptor, window).await {
                note_line!("tracer-demo proxy: tunnel: {error:#}");
            }
        });
    }
}

/// One tunnel connection: mTLS, then every CONNECT stream on it.
async fn inbound_connection(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    window: Duration,
) -> anyhow::Result<()> {
    let tls = acceptor.accept(tcp).await.context("mTLS handshake")?;
    let mut connection = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .handshake::<_, Bytes>(tls)
        .await?;
    while let Some(stream) = connection.accept().await {
        let (request, respond) = stream?;
        tokio::spawn(async move {
            let _ = inbound_stream(request, respond, window).await;
        });
    }
    Ok(())
}

async fn inbound_stream(
    request: http::Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    window: Duration,
) -> anyhow::Result<()> {
    let reply = |status: http::StatusCode| http::Response::builder().status(status).body(());
    let target = request
        .uri()
        .authority()
        .and_then(|authority| authority.as_str().parse::<SocketAddr>().ok());
    let (Some(target), true) = (target, request.method() == http::Method::CONNECT) else {
        respond.send_response(reply(http::StatusCode::BAD_REQUEST)?, true)?;
        return Ok(());
    };
    let Ok(service) = TcpStream::connect(target).await else {
        respond.send_response(reply(http::StatusCode::SERVICE_UNAVAILABLE)?, true)?;
        return Ok(());
    };
    service.set_nodelay(true)?;
    let send = respond.send_response(reply(http::StatusCode::OK)?, false)?;
    let (read, write) = service.into_split();
    let (up, down) = tokio::join!(
        app_to_tunnel(read, send, window),
        tunnel_to_app(request.into_body(), write)
    );
    up.and(down)
}

/// Socket -> stream: one DATA frame per read (per `window`, when one is set); end of stream
/// when the socket reaches end of file.
async fn app_to_tunnel(
    mut socket: OwnedReadHalf,
    mut send: SendStream<Bytes>,
    window: Duration,
) -> anyhow::Result<()> {
    let mut buffer = vec![0_u8; INITIAL_BUFFER_BYTES];
    loop {
        let mut filled = socket.read(&mut buffer).await?;
        if filled == 0 {
            send.send_data(Bytes::new(), true)?;
            return Ok(());
        }
        if !window.is_zero() {
            let deadline = tokio::time::Instant::now() + window;
            while filled < buffer.len() {
                match tokio::time::timeout_at(deadline, socket.read(&mut buffer[filled..])).await {
                    Ok(Ok(n)) if n > 0 => filled += n,
                    _ => break,
                }
            }
        }
        send_all(&mut send, Bytes::copy_from_slice(&buffer[..filled])).await?;
        if filled == buffer.len() && buffer.len() < LARGE_BUFFER_BYTES {
            buffer.resize(LARGE_BUFFER_BYTES, 0);
        }
    }
}

/// Sends `data` as the stream's flow-control window allows.
async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes) -> anyhow::Result<()> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = match send.capacity() {
            0 => std::future::poll_fn(|context| send.poll_capacity(context))
                .await
                .context("the tunnel stream closed")??,
            capacity => capacity,
        };
        let chunk = data.split_to(capacity.min(data.len()));
        send.send_data(chunk, false)?;
    }
    Ok(())
}

/// Stream -> socket: one write per DATA frame; shuts the socket's write side at end of stream.
async fn tunnel_to_app(mut receive: RecvStream, mut socket: OwnedWriteHalf) -> anyhow::Result<()> {
    while let Some(data) = receive.data().await {
        let data = data?;
        socket.write_all(&data).await?;
        let _ = receive.flow_control().release_capacity(data.len());
    }
    socket.shutdown().await?;
    Ok(())
}

/// Where a connection redirected by iptables (`REDIRECT`) was going before it was redirected.
fn original_destination(socket: &TcpStream) -> Option<SocketAddr> {
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
    let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut length = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in>()).ok()?;
    // SAFETY: `address` is a writable sockaddr_in of `length` bytes; the kernel writes at most
    // that many and updates `length`.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&raw mut address).cast(),
            &raw mut length,
        )
    };
    if result != 0 {
        return None;
    }
    let original = SocketAddr::from((
        std::net::Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    ));
    // A connection that was not redirected reports its own local address.
    (Some(original) != socket.local_addr().ok()).then_some(original)
}
