//! A connection's stream as hyper sees it: the one place where runlogd's
//! answers replace what hyper would write (or not write) on its own. It is
//! kept apart from the accept loop (`http`) because it works at the level
//! of bytes on the wire, below hyper, where the loop only wires parts up.
//!
//! hyper refuses what it cannot parse (a malformed request line or header, a
//! head beyond its own caps) with a bare status line, `content-length: 0`,
//! and offers no hook to change that answer. So each connection's stream is
//! wrapped ([`Guarded`]):
//!
//! * **hyper's own refusals** are recognised on their way out, replaced by
//!   the envelope (400 `malformed_request`, 414 `uri_too_long`, 431
//!   `headers_too_large`) and counted in `runlogd_http_rejections_total`.
//!   They are told apart from runlogd's answers by where they stand, not by
//!   how they look: the wrapper follows the responses it writes (each head,
//!   then its body by its `Content-Length`) and the service notes every
//!   request it is given, so a response head written when no request is
//!   waiting for one can only be hyper's. Log text that merely looks like
//!   such a head is body bytes, and is never touched. A response framed
//!   otherwise (chunked; runlogd sends none) ends the rewriting on that
//!   connection, which then keeps hyper's bare answers.
//! * **HTTP/2 with prior knowledge** (a connection that opens with the
//!   HTTP/2 preface) is answered, not dropped: runlogd is built with
//!   hyper's HTTP/1 only (fewer crates to build and to trust; every client
//!   of the platform's API speaks HTTP/1.1), so it sends the HTTP/2 server
//!   preface (an empty SETTINGS frame) and a GOAWAY with `HTTP_1_1_REQUIRED`
//!   (RFC 9113 §7), which tells an HTTP/2 client to retry over HTTP/1.1, and
//!   counts it (reason `http2_prior_knowledge`).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use axum::http::header;
use axum::response::IntoResponse;
use futures_util::FutureExt;
use memchr::memmem;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::api::error::ApiError;
use crate::api::limits::MAX_HEADERS;

/// The reason HTTP/2 with prior knowledge is counted under.
const HTTP2_REASON: &str = "http2_prior_knowledge";

/// What a client speaking HTTP/2 with prior knowledge sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The limits a refusal's envelope names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_uri: usize,
    pub(super) max_head: usize,
}

/// The requests of one connection given to the service whose response head
/// has not been written yet, oldest first: `true` for a HEAD request, whose
/// answer has no body.
#[derive(Debug, Default)]
pub(super) struct Waiting(Mutex<VecDeque<bool>>);

impl Waiting {
    pub(super) fn push(&self, head: bool) {
        self.queue().push_back(head);
    }

    fn pop(&self) -> Option<bool> {
        self.queue().pop_front()
    }

    fn is_empty(&self) -> bool {
        self.queue().is_empty()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<bool>> {
        // Nothing can be left half-done under this lock; a panic elsewhere
        // must not take the connection down with it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the bytes written stand in the stream of responses.
#[derive(Debug)]
enum Framing {
    /// At a response head; holds its first bytes when a write split it.
    Head(Vec<u8>),
    /// In a body, with this many bytes to go.
    Body(u64),
    /// A response not framed by `Content-Length`: heads can no longer be
    /// found, so nothing more is rewritten on this connection.
    Lost,
}

/// Longer response heads than this are not followed (runlogd writes none).
const MAX_TRACKED_HEAD: usize = 64 * 1024;

impl Framing {
    /// Whether the next byte written starts a response head.
    fn at_head(&self) -> bool {
        matches!(self, Framing::Head(held) if held.is_empty())
    }

    /// Follows `data`, written after everything seen so far.
    fn advance(&mut self, mut data: &[u8], waiting: &Waiting) {
        while !data.is_empty() {
            match self {
                Framing::Lost => return,
                Framing::Body(left) => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                    data = &data[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        *self = Framing::Head(Vec::new());
                    }
                }
                Framing::Head(held) => match head_end(held, data) {
                    None => {
                        held.extend_from_slice(data);
                        if held.len() > MAX_TRACKED_HEAD {
                            *self = Framing::Lost;
                        }
                        return;
                    }
                    Some(end) => {
                        held.extend_from_slice(&data[..end]);
                        data = &data[end..];
                        *self = after_head(held, waiting);
                    }
                },
            }
        }
    }
}

/// Where in `data` the head begun with `held` ends (just past its blank line).
fn head_end(held: &[u8], data: &[u8]) -> Option<usize> {
    const END: &[u8] = b"\r\n\r\n";
    // The blank line may straddle the two.
    for k in (1..END.len()).rev() {
        if held.ends_with(&END[..k]) && data.starts_with(&END[k..]) {
            return Some(END.len() - k);
        }
    }
    memmem::find(data, END).map(|at| at + END.len())
}

/// What follows a whole response head.
fn after_head(head: &[u8], waiting: &Waiting) -> Framing {
    let Some(status) = head.get(9..12).and_then(|s| std::str::from_utf8(s).ok()) else {
        return Framing::Lost;
    };
    let Ok(status) = status.parse::<u16>() else {
        return Framing::Lost;
    };
    if (100..200).contains(&status) {
        // An interim answer (100 Continue): the final one follows.
        return Framing::Head(Vec::new());
    }
    let Some(head_request) = waiting.pop() else {
        // An answer no request waited for, that was not recognised as a
        // refusal: stop following rather than guess.
        return Framing::Lost;
    };
    if head_request || status == 204 || status == 304 {
        return Framing::Head(Vec::new());
    }
    let mut length = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Framing::Lost;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        }
    }
    match length {
        Some(0) => Framing::Head(Vec::new()),
        Some(n) => Framing::Body(n),
        // Delimited by the end of the connection.
        None => Framing::Lost,
    }
}

/// A connection's stream, as hyper sees it (see the module's comment).
pub(super) struct Guarded {
    stream: TcpStream,
    waiting: Arc<Waiting>,
    limits: Limits,
    /// The connection's first bytes, held while they may be the HTTP/2
    /// preface; `None` once decided.
    sniffed: Option<Vec<u8>>,
    /// Bytes read but not given to hyper yet.
    replay: Vec<u8>,
    /// The connection opened with the HTTP/2 preface.
    h2: bool,
    out: Framing,
    /// An answer of runlogd's own, sent in place of what hyper wrote.
    answer: Vec<u8>,
    answer_sent: usize,
    /// The write side is shut down.
    shut: bool,
}

impl Guarded {
    pub(super) fn new(stream: TcpStream, waiting: Arc<Waiting>, limits: Limits) -> Guarded {
        Guarded {
            stream,
            waiting,
            limits,
            sniffed: Some(Vec::with_capacity(H2_PREFACE.len())),
            replay: Vec::new(),
            h2: false,
            out: Framing::Head(Vec::new()),
            answer: Vec::new(),
            answer_sent: 0,
            shut: false,
        }
    }

    /// Sends what is left of [`Guarded::answer`].
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.answer_sent < self.answer.len() {
            let n = ready!(
                Pin::new(&mut self.stream).poll_write(cx, &self.answer[self.answer_sent..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.answer_sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// The refusal `data` is, when it is hyper's own bare one: a 4xx head
    /// with `content-length: 0`, written where a head starts while no request
    /// waits for an answer. Also its `date` header, to keep.
    fn refusal(&self, data: &[u8]) -> Option<(ApiError, Option<String>)> {
        if !self.out.at_head() || !self.waiting.is_empty() {
            return None;
        }
        if head_end(&[], data) != Some(data.len()) {
            return None;
        }
        let head = std::str::from_utf8(data).ok()?;
        let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?;
        let mut lines = head.split("\r\n").skip(1);
        let field = |line: &str, name: &str| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        };
        if !lines
            .clone()
            .any(|l| field(l, "content-length").as_deref() == Some("0"))
        {
            return None;
        }
        let date = lines.find_map(|l| field(l, "date"));
        let error = match status {
            "400" => ApiError::MalformedRequest,
            "414" => ApiError::UriTooLong {
                limit: self.limits.max_uri,
            },
            "431" => ApiError::HeadersTooLarge {
                limit: self.limits.max_head,
                max_headers: MAX_HEADERS,
            },
            _ => return None,
        };
        Some((error, date))
    }

    /// Reads the connection's first bytes while they may be the HTTP/2
    /// preface, a few at a time so that nothing beyond it is taken.
    fn poll_sniff(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(held) = self.sniffed.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            let mut bytes = [0u8; H2_PREFACE.len()];
            let want = H2_PREFACE.len() - held.len();
            let mut buf = ReadBuf::new(&mut bytes[..want]);
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
            let got = buf.filled();
            held.extend_from_slice(got);
            if got.is_empty() || !H2_PREFACE.starts_with(held) {
                // The end of the stream, or not the preface: hyper's now.
                self.replay = std::mem::take(held);
                self.sniffed = None;
                return Poll::Ready(Ok(()));
            }
            if held.len() == H2_PREFACE.len() {
                self.sniffed = None;
                self.h2 = true;
                self.answer = h2_refusal();
                crate::metrics::http_rejected(HTTP2_REASON);
                tracing::debug!("HTTP/2 with prior knowledge; told to use HTTP/1.1");
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// After the HTTP/2 preface: send the refusal, close the write side, and
    /// read until the client closes (closing with unread bytes would reset
    /// the connection, and could lose the refusal). hyper is then given the
    /// end of the stream; its header read timeout bounds the wait.
    fn poll_refuse_h2(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_answer(cx))?;
        if !self.shut {
            ready!(Pin::new(&mut self.stream).poll_shutdown(cx))?;
            self.shut = true;
        }
        for _ in 0..16 {
            let mut sink = [0u8; 4096];
            let mut buf = ReadBuf::new(&mut sink);
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
        // A client that keeps sending: let other tasks run meanwhile.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The HTTP/2 server preface (an empty SETTINGS frame) and a GOAWAY with
/// error code `HTTP_1_1_REQUIRED` (0xd) for stream 0.
fn h2_refusal() -> Vec<u8> {
    const WHY: &[u8] = b"runlogd serves HTTP/1.1 only";
    let mut frames = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = 8 + WHY.len();
    frames.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
    frames.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0xd]);
    frames.extend_from_slice(WHY);
    frames
}

/// `error` as a whole HTTP/1.1 response, as `api::error` makes it (which
/// also counts it), ending the connection.
fn http1_answer(error: ApiError, date: Option<&str>) -> Vec<u8> {
    let response = error.into_response();
    // No middleware sees what the accept loop answers: report it here.
    crate::api::error::report(&response);
    let (parts, body) = response.into_parts();
    // The envelope is a complete body in memory: ready at once.
    let body = axum::body::to_bytes(body, usize::MAX)
        .now_or_never()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {}\r\n", parts.status).as_bytes());
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(date) = date {
        out.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "cache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_sniff(cx))?;
        if this.h2 {
            return this.poll_refuse_h2(cx);
        }
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay[..n]);
            this.replay.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        if let Some((error, date)) = this.refusal(data) {
            tracing::debug!(code = %error, "a request hyper could not parse, answered in the envelope");
            this.answer = http1_answer(error, date.as_deref());
            this.answer_sent = 0;
            // hyper writes nothing after its refusal.
            this.out = Framing::Lost;
            // What is not sent now is sent on the flush that follows.
            if let Poll::Ready(Err(e)) = this.poll_answer(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(data.len()));
        }
        let n = ready!(Pin::new(&mut this.stream).poll_write(cx, data))?;
        this.out.advance(&data[..n], &this.waiting);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            // A head alone, as hyper writes its refusals.
            if this.refusal(only).is_some() {
                return Pin::new(this).poll_write(cx, only);
            }
        }
        let mut n = ready!(Pin::new(&mut this.stream).poll_write_vectored(cx, bufs))?;
        let written = n;
        for buf in bufs {
            if n == 0 {
                break;
            }
            let k = buf.len().min(n);
            this.out.advance(&buf[..k], &this.waiting);
            n -= k;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        if this.shut {
            return Poll::Ready(Ok(()));
        }
        ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
        this.shut = true;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_followed_by_their_length() {
        let waiting = Waiting::default();
        let mut out = Framing::Head(Vec::new());
        waiting.push(false);
        waiting.push(true);
        waiting.push(false);
        let body = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let first = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // Split anywhere, even inside the blank line.
        for piece in first.as_bytes().chunks(3) {
            out.advance(piece, &waiting);
        }
        assert!(out.at_head(), "{out:?}");
        // HEAD: a length, and no body.
        out.advance(b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r", &waiting);
        assert!(!out.at_head());
        out.advance(b"\n", &waiting);
        assert!(out.at_head(), "{out:?}");
        out.advance(b"HTTP/1.1 100 Continue\r\n\r\n", &waiting);
        assert!(out.at_head(), "{out:?}");
        out.advance(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            &waiting,
        );
        assert!(matches!(out, Framing::Lost));
        assert!(waiting.is_empty());
    }

    #[test]
    fn the_http2_refusal_is_settings_then_goaway() {
        let frames = h2_refusal();
        assert_eq!(&frames[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let len =
            usize::from(frames[9]) << 16 | usize::from(frames[10]) << 8 | usize::from(frames[11]);
        assert_eq!(frames.len(), 9 + 9 + len);
        assert_eq!(frames[12], 7);
        assert_eq!(&frames[22..26], &[0, 0, 0, 0xd]);
    }
}
