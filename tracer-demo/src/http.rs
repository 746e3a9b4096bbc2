//! The HTTP/1.1 two-write workload, the one copy of it: the fixed request the clients send and
//! the fixed response the service returns, sized like the blog's strace (request 118 B, headers
//! 180 B, body 178 B); the server's side of a connection ([`answer`]: one read per request, then
//! headers and body in two writes) and the client's ([`exchange`]: one write, then reads until
//! the response is in). The demo's service and load generator use them over `TcpStream`s, and
//! so does the benchmark's timed loop (`workload timed --kind http`) over plain files for
//! write(2)/read(2); the syscalls per request are the same in all of them.
//!
//! The header set is fixed and has no `Date`, so every response has exactly the same size and
//! a read of 180, 178 or 358 bytes can only mean "headers", "body" or "both".
use std::{
    io::{self, Read, Write},
    time::Duration,
};

/// The request on a keep-alive connection: 118 B, as in the blog's `write(19, "GET ...", 118)`.
pub const REQUEST_KEEP_ALIVE: &[u8] = b"GET /details/0 HTTP/1.1\r\n\
Host: details.default:9080\r\n\
User-Agent: tracer-demo\r\n\
Accept: application/json, text/plain\r\n\r\n";

/// The request with `Connection: close` (the blog's second experiment).
pub const REQUEST_CLOSE: &[u8] = b"GET /details/0 HTTP/1.1\r\n\
Host: details.default:9080\r\n\
User-Agent: tracer-demo\r\n\
Accept: application/json, text/plain\r\n\
Connection: close\r\n\r\n";

/// Response headers when the connection stays open: 180 B.
pub const HEADERS_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: application/json\r\n\
Server: WEBrick/1.8.1 (Ruby/3.3.4/2024-07-09)\r\n\
Content-Length: 178\r\n\
Connection: Keep-Alive\r\n\
Keep-Alive: timeout=5\r\n\
Vary: Accept\r\n\r\n";

/// Response headers when the client asked to close: also 180 B, so both experiments read the
/// same sizes.
pub const HEADERS_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: application/json\r\n\
Server: WEBrick/1.8.1 (Ruby/3.3.4/2024-07-09)\r\n\
Content-Length: 178\r\n\
Connection: close\r\n\
Vary: Accept, Accept-Encoding, Range, TE\r\n\r\n";

/// The Bookinfo details record for book 0: 178 B.
pub const BODY: &[u8] = br#"{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}"#;

/// Headers + body: what a client must read per response.
pub const RESPONSE_BYTES: usize = HEADERS_KEEP_ALIVE.len() + BODY.len();

const _: () = assert!(HEADERS_KEEP_ALIVE.len() == 180);
const _: () = assert!(HEADERS_CLOSE.len() == 180);
const _: () = assert!(BODY.len() == 178);
const _: () = assert!(REQUEST_KEEP_ALIVE.len() == 118);

/// Where the blank line that ends a header block finishes, if the block is complete.
#[must_use]
pub fn header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Whether a header block carries `Connection: close` (names and values case-insensitive).
#[must_use]
pub fn wants_close(headers: &[u8]) -> bool {
    headers.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let (name, value) = line.split_at(colon);
        name.eq_ignore_ascii_case(b"connection")
            && value[1..].trim_ascii().eq_ignore_ascii_case(b"close")
    })
}

/// The `Content-Length` of a header block; 0 when absent or not a number.
#[must_use]
pub fn content_length(headers: &[u8]) -> usize {
    headers
        .split(|&b| b == b'\n')
        .find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            if !name.eq_ignore_ascii_case(b"content-length") {
                return None;
            }
            std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
        })
        .unwrap_or(0)
}

/// The status code of a response header block, if its first line is well formed.
#[must_use]
pub fn status_code(headers: &[u8]) -> Option<u16> {
    let line = headers.split(|&b| b == b'\r').next()?;
    let code = line.split(|&b| b == b' ').nth(1)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// One write(2) that must take all of `bytes`: a short write would change the syscalls per
/// request that the tests and the benchmark count, so it is an error rather than a retry.
pub fn write_once(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let written = stream.write(bytes)?;
    if written != bytes.len() {
        return Err(io::Error::other(format!(
            "short write: {written} of {} B",
            bytes.len()
        )));
    }
    Ok(())
}

/// What the server's side of one connection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests answered (two writes each).
    pub requests: u64,
    /// Read calls made, the one that saw the client close included.
    pub reads: u64,
}

/// Serves requests on one connection until the client closes it or asks to close: reads a
/// request (one read, unless it arrives in pieces), writes the headers, waits `body_delay`,
/// writes the body. Keep-alive is honoured, and so is `Connection: close`; an oversized request
/// ends the connection.
pub fn answer(stream: &mut (impl Read + Write), body_delay: Duration) -> io::Result<Served> {
    let mut served = Served::default();
    let mut buffer = [0_u8; 8192];
    let mut filled = 0;
    loop {
        let Some(end) = header_end(&buffer[..filled]) else {
            if filled == buffer.len() {
                return Ok(served);
            }
            let n = stream.read(&mut buffer[filled..])?;
            served.reads += 1;
            if n == 0 {
                return Ok(served);
            }
            filled += n;
            continue;
        };
        let close = wants_close(&buffer[..end]);
        write_once(
            stream,
            if close {
                HEADERS_CLOSE
            } else {
                HEADERS_KEEP_ALIVE
            },
        )?;
        if !body_delay.is_zero() {
            render_body(body_delay);
        }
        write_once(stream, BODY)?;
        served.requests += 1;
        if close {
            return Ok(served);
        }
        // Requests are GETs without a body; keep any pipelined bytes.
        buffer.copy_within(end..filled, 0);
        filled -= end;
    }
}

/// Stands for the app's work between the two writes (`WEBrick` renders and writes the body after
/// the headers). A sleep rather than a busy wait: on a small machine a spinning server would
/// keep the client off the CPU and hide the very gap it stands for.
fn render_body(duration: Duration) {
    std::thread::sleep(duration);
}

/// The client's read calls and the bytes they returned, over any number of responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    pub calls: u64,
    pub bytes: u64,
}

/// Sends `request` with one write and reads its response (headers, then `Content-Length` bytes
/// of body) into `buffer`, counting every read in `reads`, a failed exchange's too; returns the
/// status code.
pub fn exchange(
    stream: &mut (impl Read + Write),
    request: &[u8],
    buffer: &mut [u8],
    reads: &mut Reads,
) -> io::Result<u16> {
    write_once(stream, request)?;
    let mut filled = 0;
    let mut needed = None;
    loop {
        if filled == buffer.len() {
            return Err(io::Error::other(format!(
                "the response does not fit in {filled} B"
            )));
        }
        let n = stream.read(&mut buffer[filled..])?;
        reads.calls += 1;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        reads.bytes += n as u64;
        filled += n;
        if needed.is_none()
            && let Some(end) = header_end(&buffer[..filled])
        {
            needed = Some(end + content_length(&buffer[..end]));
        }
        if let Some(needed) = needed
            && filled >= needed
        {
            return status_code(&buffer[..filled])
                .ok_or_else(|| io::Error::other("malformed status line"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_service_and_client_send() {
        let end = header_end(HEADERS_CLOSE).unwrap();
        assert_eq!(end, 180);
        assert!(wants_close(HEADERS_CLOSE));
        assert!(!wants_close(HEADERS_KEEP_ALIVE));
        assert!(wants_close(REQUEST_CLOSE));
        assert!(!wants_close(REQUEST_KEEP_ALIVE));
        assert_eq!(content_length(HEADERS_KEEP_ALIVE), BODY.len());
        assert_eq!(status_code(HEADERS_KEEP_ALIVE), Some(200));
        assert_eq!(header_end(&HEADERS_CLOSE[..179]), None);
        assert!(wants_close(
            b"GET / HTTP/1.1\r\nconnection:   CLOSE \r\n\r\n"
        ));
        assert_eq!(
            content_length(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            0
        );
    }

    #[test]
    fn a_keep_alive_exchange_is_one_write_then_two_writes_back() {
        let (mut client, mut server) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || answer(&mut server, Duration::ZERO).unwrap());
        let mut buffer = [0_u8; 4096];
        let mut reads = Reads::default();
        for _ in 0..3 {
            let status = exchange(&mut client, REQUEST_KEEP_ALIVE, &mut buffer, &mut reads);
            assert_eq!(status.unwrap(), 200);
        }
        let status = exchange(&mut client, REQUEST_CLOSE, &mut buffer, &mut reads);
        assert_eq!(status.unwrap(), 200);
        // Four requests, each read by the server at once; the server then ends the connection.
        assert_eq!(
            server.join().unwrap(),
            Served {
                requests: 4,
                reads: 4
            }
        );
        assert_eq!(reads.bytes, 4 * RESPONSE_BYTES as u64);
        assert!((4..=8).contains(&reads.calls), "{reads:?}");
    }
}
