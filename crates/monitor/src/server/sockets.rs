//! Socket monitors on the monitor IOThread (QEMU: `mon_iothread` in
//! `monitor/monitor.c`, the socket chardev's handlers running in the
//! IOThread's context, `monitor_qmp_read()`/`handle_qmp_command()` in
//! `monitor/qmp.c`).
//!
//! Every socket monitor's listening socket and connection are fd handlers
//! of one [`IoThread`], `mon_iothread`, as QEMU sets them up for monitors
//! whose chardev can run in another context. In that thread the handlers
//! accept clients, read, run the JSON streamer, execute `exec-oob`
//! requests at once (so they are answered while the main loop is busy) and
//! queue every in-band request to the [`Dispatcher`], which runs it on the
//! main loop (QEMU's `monitor_qmp_dispatcher_co`). Like QEMU, a monitor
//! stops reading (is suspended) while its queue is full: one request
//! without `oob`, [`QMP_REQ_QUEUE_LEN_MAX`] with it; an HMP monitor
//! while its command runs.
//!
//! Output from any thread (replies from the main loop, OOB replies from
//! the IOThread, events) is appended to the connection's buffer and
//! written without blocking; what the socket does not take at once is
//! written by a write handler in the IOThread when the socket drains. A
//! client that does not read cannot block anyone; one whose backlog
//! exceeds [`MAX_OUTPUT_QUEUE`] is disconnected.
//!
//! Like QEMU's socket chardev, a monitor serves one client at a time: the
//! listening socket is not watched while a client is connected.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::io::RawFd;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

use ferrite_aio::{AioContext, IoThread};

use super::{
    ConnSlot, Current, Dispatcher, Listener, MAX_OUTPUT_QUEUE, QMP_REQ_QUEUE_LEN_MAX, Stream,
    WRITE_TIMEOUT, lock,
};
use crate::hmp::to_crlf;
use crate::json::JsonMessageParser;
use crate::qmp::{QmpCore, QmpMonitor};

/// The monitor IOThread (`mon_iothread`), created with the first socket
/// monitor and kept for the life of the process, as in QEMU.
pub(super) fn mon_iothread() -> std::io::Result<Arc<IoThread>> {
    static T: OnceLock<Arc<IoThread>> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(t) = T.get() {
        return Ok(t.clone());
    }
    let _g = lock(&INIT);
    if let Some(t) = T.get() {
        return Ok(t.clone());
    }
    let t = IoThread::new_internal("mon_iothread").map_err(std::io::Error::other)?;
    Ok(T.get_or_init(|| t).clone())
}

/// What a socket monitor speaks.
pub(super) enum Proto {
    Qmp(Arc<QmpMonitor>),
    Hmp,
}

/// One listening monitor socket.
pub(super) struct SocketMonitor {
    ctx: Arc<AioContext>,
    listener: Listener,
    proto: Proto,
    core: Arc<QmpCore>,
    dispatcher: Arc<Dispatcher>,
    /// The QMP monitor's output: the connected client, if any.
    pub(super) slot: Arc<ConnSlot>,
    st: Mutex<SrvState>,
    me: Weak<SocketMonitor>,
}

#[derive(Default)]
struct SrvState {
    conn: Option<Arc<Conn>>,
    stopped: bool,
}

impl SocketMonitor {
    pub(super) fn start(
        core: Arc<QmpCore>,
        dispatcher: Arc<Dispatcher>,
        listener: Listener,
        proto: Proto,
        slot: Arc<ConnSlot>,
    ) -> std::io::Result<Arc<SocketMonitor>> {
        let ctx = mon_iothread()?.ctx().clone();
        listener.set_nonblocking()?;
        let s = Arc::new_cyclic(|me| SocketMonitor {
            ctx,
            listener,
            proto,
            core,
            dispatcher,
            slot,
            st: Mutex::new(SrvState::default()),
            me: me.clone(),
        });
        s.listen(true);
        Ok(s)
    }

    fn listen_fd(&self) -> RawFd {
        self.listener.fd()
    }

    /// Watch (or stop watching) the listening socket.
    fn listen(&self, on: bool) {
        if on {
            let me = self.me.clone();
            self.ctx.set_fd_rw(
                self.listen_fd(),
                Some(Arc::new(move || {
                    if let Some(s) = me.upgrade() {
                        s.accept();
                    }
                })),
                None,
            );
        } else {
            self.ctx.remove_fd_handler(self.listen_fd());
        }
    }

    /// A client is waiting (IOThread).
    fn accept(self: &Arc<Self>) {
        let stream = match self.listener.accept_nonblocking() {
            Ok(s) => s,
            // Spurious wake-up, or the client gave up already.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(e) => {
                // E.g. out of file descriptors: QEMU logs and keeps
                // listening. Level-triggered, so the next poll retries.
                log::warn!("monitor socket: accept failed: {e}");
                return;
            }
        };
        let mut st = lock(&self.st);
        if st.stopped || st.conn.is_some() {
            return;
        }
        // One client at a time (QEMU's socket chardev).
        self.listen(false);
        let generation = match &self.proto {
            Proto::Qmp(m) => m.generation() + 1,
            Proto::Hmp => 0,
        };
        let conn = Arc::new(Conn {
            server: self.me.clone(),
            fd: stream.fd(),
            stream,
            ctx: self.ctx.clone(),
            st: Mutex::new(ConnState::default()),
            cv: Condvar::new(),
            generation,
            input: Mutex::new(Input {
                parser: JsonMessageParser::new(),
                rl: crate::readline::Readline::new(),
                pending: VecDeque::new(),
                busy: false,
            }),
        });
        st.conn = Some(conn.clone());
        *lock(&self.slot.current) = Some(Current::Socket(conn.clone()));
        drop(st);
        match &self.proto {
            Proto::Qmp(m) => {
                // Sends the greeting through the slot.
                let g = m.client_connected();
                debug_assert_eq!(g, generation);
            }
            Proto::Hmp => {
                let v = &self.core.version;
                conn.push(
                    format!(
                        "QEMU {}.{}.{} monitor - type 'help' for more information\r\n(qemu) ",
                        v.major, v.minor, v.micro
                    )
                    .as_bytes(),
                );
            }
        }
        conn.update_handlers(&lock(&conn.st));
    }

    /// The client of `conn` is gone (IOThread, or any thread on a write
    /// error): forget it, and listen again once none of its commands is
    /// still running (so no reply of its can reach the next client).
    fn conn_closed(&self, conn: &Arc<Conn>) {
        let mut st = lock(&self.st);
        if !st.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            return;
        }
        if let Proto::Qmp(m) = &self.proto {
            m.client_disconnected();
        }
        let idle = lock(&conn.st).inflight == 0;
        if idle {
            st.conn = None;
            *lock(&self.slot.current) = None;
            if !st.stopped {
                self.listen(true);
            }
        }
    }

    /// A command of `conn` finished on the main loop.
    fn command_done(&self, conn: &Arc<Conn>) {
        let closed = {
            let mut cs = lock(&conn.st);
            cs.inflight -= 1;
            if !cs.closed && cs.suspended && cs.inflight < self.queue_max() {
                cs.suspended = false;
                conn.update_handlers(&cs);
            }
            cs.closed && cs.inflight == 0
        };
        if closed {
            self.conn_closed(conn);
        }
    }

    fn queue_max(&self) -> usize {
        match &self.proto {
            Proto::Qmp(m) if m.oob_enabled() => QMP_REQ_QUEUE_LEN_MAX,
            _ => 1,
        }
    }

    /// Bytes from the client (IOThread).
    fn input(self: &Arc<Self>, conn: &Arc<Conn>, data: &[u8]) {
        match &self.proto {
            Proto::Qmp(m) => {
                let msgs = lock(&conn.input).parser.feed_collect(data);
                for msg in msgs {
                    if QmpMonitor::is_oob_request(&msg) {
                        // Out of band: answered right here, whatever the
                        // main loop is doing.
                        m.handle(msg);
                        continue;
                    }
                    let (m2, c) = (m.clone(), conn.clone());
                    let gen_ = conn.generation;
                    self.queue(conn, move || {
                        // Requests of a client that has gone are dropped
                        // (monitor_qmp_cleanup_queue_and_resume()).
                        if m2.generation() == gen_ && !lock(&c.st).closed {
                            m2.handle(msg);
                        }
                    });
                }
            }
            Proto::Hmp => {
                lock(&conn.input).pending.extend(data);
                self.hmp_process(conn);
            }
        }
    }

    /// Feed pending HMP input to readline, one byte at a time, until a
    /// line completes; its command runs on the main loop and the rest of
    /// the input waits for it, so echo and output come in QEMU's order.
    fn hmp_process(self: &Arc<Self>, conn: &Arc<Conn>) {
        loop {
            let mut inp = lock(&conn.input);
            if inp.busy {
                return;
            }
            let Some(b) = inp.pending.pop_front() else {
                return;
            };
            let mut echo = Vec::new();
            let line = inp.rl.handle_byte(b, &mut echo);
            inp.busy = line.is_some();
            drop(inp);
            if !echo.is_empty() {
                conn.push(&echo);
            }
            let Some(text) = line else {
                continue;
            };
            let (core, c, me) = (self.core.clone(), conn.clone(), self.clone());
            self.queue(conn, move || {
                if lock(&c.st).closed {
                    return;
                }
                let mut reply = to_crlf(&core.hmp.run_line(&core, &text, None));
                // No prompt after `quit`.
                let prompt = !core.machine.exit_requested();
                if prompt {
                    reply.push_str("(qemu) ");
                }
                c.push(reply.as_bytes());
                {
                    let mut inp = lock(&c.input);
                    if prompt {
                        inp.rl.prompt_shown();
                    }
                    inp.busy = false;
                }
                if prompt {
                    me.hmp_process(&c);
                }
            });
        }
    }

    /// Queue an in-band job for the main loop; suspend reading when the
    /// monitor's queue is full.
    fn queue(self: &Arc<Self>, conn: &Arc<Conn>, job: impl FnOnce() + Send + 'static) {
        {
            let mut cs = lock(&conn.st);
            cs.inflight += 1;
            if cs.inflight >= self.queue_max() && !cs.suspended {
                cs.suspended = true;
                conn.update_handlers(&cs);
            }
        }
        let done = InflightDone {
            server: self.clone(),
            conn: conn.clone(),
        };
        let submitted = self.dispatcher.submit(Box::new(move || {
            // Dropped after the job, or unrun when the dispatcher discards
            // its queue at exit: either way the slot is released.
            let _done = done;
            job();
        }));
        if !submitted {
            // The dispatcher has stopped (the VM is exiting): the job and
            // its InflightDone were dropped, releasing the slot.
        }
    }

    /// Stop accepting; send what is queued, then close the connection
    /// (does not wait: called on the main loop).
    pub(super) fn begin_shutdown(&self) {
        let conn = {
            let mut st = lock(&self.st);
            if st.stopped {
                return;
            }
            st.stopped = true;
            st.conn.clone()
        };
        self.listen(false);
        if let Some(c) = conn {
            c.finish();
        }
    }

    /// [`SocketMonitor::begin_shutdown`], then wait until the client has
    /// its output (at most [`WRITE_TIMEOUT`] for one that does not read).
    pub(super) fn shutdown(&self) {
        self.begin_shutdown();
        let conn = lock(&self.st).conn.clone();
        if let Some(c) = conn {
            c.wait_closed();
        }
    }

    /// The listening socket.
    pub(super) fn listener(&self) -> &Listener {
        &self.listener
    }
}

/// Releases a connection's claim on its queue when dropped.
struct InflightDone {
    server: Arc<SocketMonitor>,
    conn: Arc<Conn>,
}

impl Drop for InflightDone {
    fn drop(&mut self) {
        self.server.command_done(&self.conn);
    }
}

/// One connected client.
pub(super) struct Conn {
    server: Weak<SocketMonitor>,
    stream: Stream,
    fd: RawFd,
    ctx: Arc<AioContext>,
    generation: u64,
    st: Mutex<ConnState>,
    cv: Condvar,
    /// Touched by the read handler only (the IOThread).
    input: Mutex<Input>,
}

struct Input {
    parser: JsonMessageParser,
    /// HMP: QEMU's line editor, input not yet fed to it, and whether a
    /// command is running.
    rl: crate::readline::Readline,
    pending: VecDeque<u8>,
    busy: bool,
}

#[derive(Default)]
struct ConnState {
    /// Output not yet taken by the socket.
    out: VecDeque<u8>,
    /// In-band requests queued or running.
    inflight: usize,
    /// Not reading (queue full).
    suspended: bool,
    /// Close once `out` is empty (shutdown).
    finishing: bool,
    /// The connection is over; its fd handlers are removed.
    closed: bool,
}

impl Conn {
    /// Set the fd handlers for the current state: read unless suspended or
    /// finishing, write while output is pending.
    fn update_handlers(self: &Arc<Self>, cs: &ConnState) {
        if cs.closed {
            self.ctx.remove_fd_handler(self.fd);
            return;
        }
        let read: Option<ferrite_aio::IoHandler> = if cs.suspended || cs.finishing {
            None
        } else {
            let w = Arc::downgrade(self);
            Some(Arc::new(move || {
                if let Some(c) = w.upgrade() {
                    c.readable();
                }
            }))
        };
        let write: Option<ferrite_aio::IoHandler> = if cs.out.is_empty() {
            None
        } else {
            let w = Arc::downgrade(self);
            Some(Arc::new(move || {
                if let Some(c) = w.upgrade() {
                    c.writable();
                }
            }))
        };
        if read.is_none() && write.is_none() {
            self.ctx.remove_fd_handler(self.fd);
        } else {
            self.ctx.set_fd_rw(self.fd, read, write);
        }
    }

    /// Read handler (IOThread).
    fn readable(self: &Arc<Self>) {
        {
            let cs = lock(&self.st);
            if cs.closed || cs.suspended || cs.finishing {
                return;
            }
        }
        let mut buf = [0u8; 4096];
        let n = match (&self.stream).read_nb(&mut buf) {
            Ok(0) => {
                self.close();
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Err(_) => {
                self.close();
                return;
            }
        };
        if let Some(s) = self.server.upgrade() {
            s.input(self, &buf[..n]);
        }
    }

    /// Write handler (IOThread): the socket has room again.
    fn writable(self: &Arc<Self>) {
        let mut cs = lock(&self.st);
        self.flush_locked(&mut cs);
    }

    /// Queue output and write as much as the socket takes now.
    pub(super) fn push(self: &Arc<Self>, line: &[u8]) {
        let mut cs = lock(&self.st);
        if cs.closed {
            return;
        }
        // One line is always accepted (a reply may echo a huge `id`); a
        // backlog beyond the limit means a client that does not read.
        if !cs.out.is_empty() && cs.out.len() + line.len() > MAX_OUTPUT_QUEUE {
            log::warn!("monitor client is not reading its output; disconnecting it");
            cs.out.clear();
            drop(cs);
            self.close();
            return;
        }
        let was_empty = cs.out.is_empty();
        cs.out.extend(line);
        if was_empty {
            self.flush_locked(&mut cs);
        }
    }

    /// Write pending output without blocking; adjust the write handler.
    fn flush_locked(self: &Arc<Self>, cs: &mut std::sync::MutexGuard<'_, ConnState>) {
        let had = !cs.out.is_empty();
        while !cs.out.is_empty() {
            let (a, _) = cs.out.as_slices();
            match (&self.stream).write_nb(a) {
                Ok(0) => break,
                Ok(n) => {
                    cs.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The client is gone; the read side sees it too.
                    cs.out.clear();
                    self.stream.shutdown();
                    break;
                }
            }
        }
        if cs.out.is_empty() && cs.finishing && !cs.closed {
            // Everything is sent: close, as QEMU does at exit.
            cs.closed = true;
            self.update_handlers(cs);
            self.stream.shutdown();
            self.cv.notify_all();
            return;
        }
        // The write handler is wanted while output is pending and must go
        // once it is all sent.
        if had || !cs.out.is_empty() {
            self.update_handlers(cs);
        }
        self.cv.notify_all();
    }

    /// The connection ends (EOF, error, or a stuck client).
    fn close(self: &Arc<Self>) {
        {
            let mut cs = lock(&self.st);
            if cs.closed {
                return;
            }
            cs.closed = true;
            cs.out.clear();
            self.update_handlers(&cs);
            self.cv.notify_all();
        }
        self.stream.shutdown();
        if let Some(s) = self.server.upgrade() {
            s.conn_closed(self);
        }
    }

    /// Send what is queued, then close.
    fn finish(self: &Arc<Self>) {
        let mut cs = lock(&self.st);
        cs.finishing = true;
        self.flush_locked(&mut cs);
    }

    /// Wait until [`Conn::finish`] has closed the connection; a client
    /// that takes nothing for [`WRITE_TIMEOUT`] is dropped.
    fn wait_closed(self: &Arc<Self>) {
        let mut cs = lock(&self.st);
        let deadline = std::time::Instant::now() + WRITE_TIMEOUT;
        while !cs.closed {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            cs = self
                .cv
                .wait_timeout(cs, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let stuck = !cs.closed;
        drop(cs);
        if stuck {
            self.close();
        }
    }
}

/// Non-blocking reads and writes on a connected stream.
trait NbIo {
    fn read_nb(self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn write_nb(self, buf: &[u8]) -> std::io::Result<usize>;
}

impl NbIo for &Stream {
    fn read_nb(self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Stdio => Err(std::io::ErrorKind::Unsupported.into()),
        }
    }
    fn write_nb(self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).write(buf),
            Stream::Tcp(s) => (&*s).write(buf),
            Stream::Stdio => Err(std::io::ErrorKind::Unsupported.into()),
        }
    }
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Stdio => 0,
        }
    }
}
