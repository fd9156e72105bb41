//! HTTP/1 half-close, and noticing that a client has closed its side of a connection.
//!
//! A client may send its request and then its FIN (`shutdown(SHUT_WR)`) and still expects the
//! answer. hyper, reading end-of-file in the middle of a request, ends the connection and the
//! answer is lost; with its own half-close support it would stop reading mid-request instead,
//! and then a client that gives up during a wait the server imposes (a `delay` or `hang`
//! fault) would never be noticed. [`WatchEof`] does both: it wraps a connection's I/O, raises
//! [`PeerEof`] when a read returns end-of-file, and while a request is in flight (bytes were
//! read since the last write) hides that end-of-file from hyper until the answer has been
//! written; between requests end-of-file is passed on at once (the connection just ends).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::instrument::connection::PeerEof;

/// I/O that raises `eof` when a read returns end-of-file, and holds that end-of-file back
/// from its reader while a request is in flight (see the module docs).
#[derive(Debug)]
pub(crate) struct WatchEof<I> {
    io: I,
    eof: Arc<PeerEof>,
    /// Bytes were read since the last write: a request is (probably) in flight.
    in_flight: bool,
    /// End-of-file was read and is being held back until the next write.
    held: Option<Waker>,
    /// End-of-file may be passed on (it was read between requests, or an answer followed).
    deliver: bool,
}

impl<I> WatchEof<I> {
    /// Watch `io`, raising `eof`.
    pub(crate) fn new(io: I, eof: Arc<PeerEof>) -> Self {
        Self {
            io,
            eof,
            in_flight: false,
            held: None,
            deliver: false,
        }
    }

    /// A write went out: an answer (or part of one) was written, so a held end-of-file can
    /// be passed on now.
    fn wrote(&mut self) {
        self.in_flight = false;
        if let Some(waker) = self.held.take() {
            self.deliver = true;
            waker.wake();
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WatchEof<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.deliver {
            return Poll::Ready(Ok(()));
        }
        if self.held.is_some() {
            self.held = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let room = buf.remaining();
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && room > 0
        {
            if buf.filled().len() > before {
                self.in_flight = true;
            } else {
                self.eof.raise();
                if self.in_flight {
                    self.held = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                self.deliver = true;
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WatchEof<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.wrote();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
