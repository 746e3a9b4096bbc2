//! The demo's HTTP/1.1 messages: the fixed request the load generator sends and the fixed
//! response the "details" service returns, sized like the blog's strace (request 118 B,
//! headers 180 B, body 178 B), plus the little parsing both ends need.
//!
//! The header set is fixed and has no `Date`, so every response has exactly the same size and
//! a read of 180, 178 or 358 bytes can only mean "headers", "body" or "both".

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
}
