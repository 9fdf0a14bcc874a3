//! Socket and stdio transports for QMP and HMP monitors.
//!
//! QEMU runs monitor I/O in the main loop (or, for monitors that offer
//! `oob`, in the `mon_iothread` IOThread) and executes in-band commands
//! from a dispatcher coroutine on the main loop. Here:
//! - [`Dispatcher`] runs every in-band command of every monitor one at a
//!   time, in arrival order — like QEMU's `monitor_qmp_dispatcher_co`.
//!   [`Dispatcher::start_on_main_loop`] does it in a bottom half of
//!   `ferrite-aio`'s main context (main loop thread, BQL held), which is
//!   what the emulator uses; [`Dispatcher::start`] uses a thread of its own
//!   for programs without a main loop. After each command it checks
//!   [`MachineControl::exit_requested`] (QEMU's `main_loop_should_exit()`)
//!   and, if set, shuts all monitors down after flushing their output.
//! - **Socket monitors** (`-qmp unix:`/`tcp:`, `-monitor unix:`, `-mon`
//!   on a socket chardev) do all their I/O in fd handlers of the monitor
//!   IOThread `mon_iothread` (module `sockets`): accepting, reading, the
//!   JSON streamer and `exec-oob` commands run there, so those are
//!   answered while the main loop is busy; in-band requests go to the
//!   [`Dispatcher`]. With `oob` not negotiated a monitor stops reading
//!   while one request is outstanding (QEMU suspends the monitor); with
//!   `oob`, while 8 are (`QMP_REQ_QUEUE_LEN_MAX`). Output is written
//!   without blocking from whichever thread produces it, the rest by a
//!   write handler in the IOThread; a client whose backlog exceeds
//!   [`MAX_OUTPUT_QUEUE`] is disconnected, so a slow client never blocks
//!   the main loop or other monitors.
//! - **Stdio monitors** (`-monitor stdio`, `-qmp stdio`) keep a blocking
//!   reader thread (standing in for the IOThread: it runs `exec-oob`
//!   itself) and a writer thread with a bounded queue: stdin and stdout
//!   are shared with the rest of the process and are not switched to
//!   non-blocking mode.
//! - like QEMU's socket chardev, a monitor serves one client at a time; the
//!   next is accepted when the current one disconnects. Several monitors
//!   (several sockets) run at once.
//!
//! [`MachineControl::exit_requested`]: crate::machine::MachineControl::exit_requested

mod sockets;

use crate::hmp::to_crlf;
use crate::json::JsonMessageParser;
use crate::qmp::{OutputSink, QmpCore, QmpMonitor};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;

/// Largest amount of unsent output queued for one client before the
/// client is considered stuck and disconnected.
pub const MAX_OUTPUT_QUEUE: usize = 16 << 20;

/// How long a write to a client may block before the client is considered
/// gone.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most in-band requests queued per monitor with `oob` enabled
/// (`QMP_REQ_QUEUE_LEN_MAX`).
pub const QMP_REQ_QUEUE_LEN_MAX: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs in-band monitor commands, one at a time, in arrival order: either
/// on a thread of its own (standing in for the main loop) or as a bottom
/// half on the `ferrite-aio` main loop.
pub struct Dispatcher {
    backend: Backend,
    exited: Mutex<bool>,
    exited_cv: Condvar,
    servers: Mutex<Vec<Weak<dyn MonitorShutdown>>>,
}

/// A monitor transport the dispatcher shuts down at exit.
trait MonitorShutdown: Send + Sync {
    /// Stop accepting; send what is queued, then close (without waiting).
    fn begin_shutdown(&self);
}

impl MonitorShutdown for ServerShared {
    fn begin_shutdown(&self) {
        self.shutdown();
    }
}

impl MonitorShutdown for sockets::SocketMonitor {
    fn begin_shutdown(&self) {
        sockets::SocketMonitor::begin_shutdown(self);
    }
}

enum Backend {
    /// A dedicated thread fed through a channel.
    Thread {
        tx: Mutex<Option<mpsc::Sender<Job>>>,
        thread: Mutex<Option<JoinHandle<()>>>,
    },
    /// A queue drained by a bottom half of the main AioContext, so commands
    /// run in the main loop thread under the BQL (QEMU's
    /// `monitor_qmp_dispatcher_co` on `qemu_aio_context`).
    MainLoop {
        queue: Arc<Mutex<VecDeque<Job>>>,
        bh: ferrite_aio::QemuBh,
        stopped: AtomicBool,
    },
}

impl Dispatcher {
    /// Start the dispatcher thread for `core`.
    pub fn start(core: Arc<QmpCore>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let d = Arc::new(Dispatcher {
            backend: Backend::Thread {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(None),
            },
            exited: Mutex::new(false),
            exited_cv: Condvar::new(),
            servers: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&d);
        let t = std::thread::Builder::new()
            .name("monitor-dispatch".into())
            .spawn(move || {
                for job in rx {
                    job();
                    if core.machine.exit_requested() {
                        if let Some(d) = weak.upgrade() {
                            d.exit();
                        }
                        break;
                    }
                }
            })
            .expect("spawning the monitor dispatcher thread");
        if let Backend::Thread { thread, .. } = &d.backend {
            *lock(thread) = Some(t);
        }
        d
    }

    /// Dispatch on the `ferrite-aio` main loop: commands run as a bottom
    /// half of the main context, in the main loop thread with the BQL held.
    /// `ferrite_aio::main_loop::qemu_init_main_loop()` must have run.
    pub fn start_on_main_loop(core: Arc<QmpCore>) -> Arc<Self> {
        let queue: Arc<Mutex<VecDeque<Job>>> = Arc::new(Mutex::new(VecDeque::new()));
        Arc::new_cyclic(|weak: &Weak<Dispatcher>| {
            let (q, w) = (queue.clone(), weak.clone());
            let bh = ferrite_aio::main_loop::qemu_bh_new("monitor-dispatch", move || {
                loop {
                    // Pop under the lock, run without it: a command may
                    // queue more work.
                    let Some(job) = lock(&q).pop_front() else {
                        break;
                    };
                    job();
                    if core.machine.exit_requested() {
                        if let Some(d) = w.upgrade() {
                            d.exit();
                        }
                        break;
                    }
                }
            });
            Dispatcher {
                backend: Backend::MainLoop {
                    queue,
                    bh,
                    stopped: AtomicBool::new(false),
                },
                exited: Mutex::new(false),
                exited_cv: Condvar::new(),
                servers: Mutex::new(Vec::new()),
            }
        })
    }

    /// Queue a job; returns false once the dispatcher has stopped.
    fn submit(&self, job: Job) -> bool {
        match &self.backend {
            Backend::Thread { tx, .. } => match &*lock(tx) {
                Some(tx) => tx.send(job).is_ok(),
                None => false,
            },
            Backend::MainLoop {
                queue, bh, stopped, ..
            } => {
                if stopped.load(Ordering::SeqCst) {
                    return false;
                }
                lock(queue).push_back(job);
                bh.schedule();
                true
            }
        }
    }

    /// Run `f` on the dispatcher thread and wait for it.
    pub fn run_sync<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = mpsc::channel();
        if !self.submit(Box::new(move || {
            let _ = tx.send(f());
        })) {
            return None;
        }
        rx.recv().ok()
    }

    /// Shut every monitor of this dispatcher down (after flushing what is
    /// queued) and wake [`Dispatcher::wait_exit`]. Called when the machine
    /// asks to exit; a board whose main loop ends for another reason calls
    /// it itself.
    pub fn exit(&self) {
        match &self.backend {
            Backend::Thread { tx, .. } => *lock(tx) = None,
            Backend::MainLoop { queue, stopped, .. } => {
                stopped.store(true, Ordering::SeqCst);
                lock(queue).clear();
            }
        }
        let servers: Vec<_> = lock(&self.servers)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for s in servers {
            s.begin_shutdown();
        }
        *lock(&self.exited) = true;
        self.exited_cv.notify_all();
    }

    /// Block until the machine asked to exit (e.g. `quit`) and every
    /// monitor has been shut down.
    pub fn wait_exit(&self) {
        let mut e = lock(&self.exited);
        while !*e {
            e = self.exited_cv.wait(e).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Whether the machine asked to exit.
    pub fn has_exited(&self) -> bool {
        *lock(&self.exited)
    }
}

/// A connected client stream (Unix, TCP, or the process's stdin/stdout).
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Stdio,
}

impl Stream {
    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Stdio => Stream::Stdio,
        })
    }
    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            // stdio is not closed: the process owns it.
            Stream::Stdio => Ok(()),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Stdio => std::io::stdin().lock().read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Stdio => {
                let mut out = std::io::stdout().lock();
                let n = out.write(buf)?;
                out.flush()?;
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a monitor listens: `unix:PATH` or `tcp:HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketAddr {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
}

enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

impl Listener {
    fn bind(addr: &SocketAddr) -> std::io::Result<Self> {
        match addr {
            SocketAddr::Unix(p) => {
                // Like QEMU (unix_listen_saddr()), replace whatever is at
                // the path; failing to remove it is the start-up error.
                if let Err(e) = std::fs::remove_file(p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!(
                            "Failed to unlink socket {}: {}",
                            p.display(),
                            crate::commands::strerror(&e)
                        ),
                    ));
                }
                UnixListener::bind(p)
                    .map(|l| Listener::Unix(l, p.clone()))
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!(
                                "Failed to bind socket to {}: {}",
                                p.display(),
                                crate::commands::strerror(&e)
                            ),
                        )
                    })
            }
            SocketAddr::Tcp(a) => TcpListener::bind(a).map(Listener::Tcp).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "Failed to bind socket on {a}: {}",
                        crate::commands::strerror(&e)
                    ),
                )
            }),
        }
    }

    /// For the monitor IOThread: accept() must not block its loop.
    fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            Listener::Unix(l, _) => l.set_nonblocking(true),
            Listener::Tcp(l) => l.set_nonblocking(true),
        }
    }

    fn fd(&self) -> std::os::unix::io::RawFd {
        match self {
            Listener::Unix(l, _) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        }
    }

    /// Accept a client whose socket does not block (for the IOThread).
    fn accept_nonblocking(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Listener::Unix(l, _) => {
                let s = l.accept()?.0;
                s.set_nonblocking(true)?;
                Stream::Unix(s)
            }
            Listener::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nonblocking(true)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        })
    }

    /// Wake a blocked `accept()`: shutting a listening socket down makes
    /// Linux fail the pending and every later `accept()` (this works even
    /// when the socket path has been removed, unlike connecting to it).
    fn wake(&self) {
        let fd = match self {
            Listener::Unix(l, _) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        };
        // SAFETY: `fd` is the listener's open descriptor, owned by `self`
        // for the duration of the call; shutdown(2) does not close it.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// Output queue of one connection, drained by its writer thread.
struct ConnOutput {
    state: Mutex<OutState>,
    cv: Condvar,
    stream: Stream,
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Vec<u8>>,
    bytes: usize,
    /// No more output will be queued; drain then stop.
    finishing: bool,
    /// The client is gone or stuck; drop everything.
    broken: bool,
    /// The writer thread has finished.
    done: bool,
}

impl ConnOutput {
    fn push(&self, line: &[u8]) {
        let mut st = lock(&self.state);
        if st.broken || st.finishing {
            return;
        }
        // A single line is always accepted (a reply echoing a huge `id`
        // is legitimate); a backlog beyond the limit means a stuck client.
        if !st.queue.is_empty() && st.bytes + line.len() > MAX_OUTPUT_QUEUE {
            log::warn!("monitor client is not reading its output; disconnecting it");
            st.broken = true;
            st.queue.clear();
            self.stream.shutdown();
            self.cv.notify_all();
            return;
        }
        st.bytes += line.len();
        st.queue.push_back(line.to_vec());
        self.cv.notify_all();
    }

    fn writer_loop(&self, w: Stream) {
        self.write_all_queued(w);
        lock(&self.state).done = true;
        self.cv.notify_all();
    }

    /// Wait until the writer thread has finished.
    fn wait_done(&self) {
        let mut st = lock(&self.state);
        while !st.done {
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn write_all_queued(&self, mut w: Stream) {
        loop {
            let line = {
                let mut st = lock(&self.state);
                loop {
                    if st.broken {
                        return;
                    }
                    if let Some(l) = st.queue.pop_front() {
                        st.bytes -= l.len();
                        break l;
                    }
                    if st.finishing {
                        // Everything is sent: close the connection, which
                        // also ends the reader (QEMU closes the socket on
                        // exit after flushing).
                        self.stream.shutdown();
                        return;
                    }
                    st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            if w.write_all(&line).is_err() {
                let mut st = lock(&self.state);
                st.broken = true;
                st.queue.clear();
                return;
            }
        }
    }

    fn finish(&self) {
        lock(&self.state).finishing = true;
        self.cv.notify_all();
    }
}

/// The client connected to a monitor now.
#[derive(Clone)]
enum Current {
    /// A stdio client served by threads.
    Thread(Arc<ConnOutput>),
    /// A socket client on the monitor IOThread.
    Socket(Arc<sockets::Conn>),
}

/// The monitor's output: whichever client is connected now.
#[derive(Default)]
struct ConnSlot {
    current: Mutex<Option<Current>>,
}

impl OutputSink for ConnSlot {
    fn write_line(&self, line: &[u8]) {
        let cur = lock(&self.current).clone();
        match cur {
            Some(Current::Thread(c)) => c.push(line),
            Some(Current::Socket(c)) => c.push(line),
            None => {}
        }
    }
}

/// Which protocol a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorMode {
    /// QMP (`-qmp`, `-mon mode=control`).
    Control,
    /// HMP (`-monitor`, `-mon mode=readline`).
    Readline,
}

struct ServerShared {
    /// None for the stdio monitor.
    listener: Option<Listener>,
    stop: AtomicBool,
    slot: Arc<ConnSlot>,
}

impl ServerShared {
    fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(Current::Thread(c)) = lock(&self.slot.current).clone() {
            // Send what is queued (e.g. the reply to `quit`), then close.
            c.finish();
        }
        if let Some(l) = &self.listener {
            l.wake();
        }
    }
}

/// A running monitor: a listening socket (on the monitor IOThread) or
/// stdio (on threads of its own).
pub struct MonitorServer {
    kind: ServerKind,
    monitor: Option<Arc<QmpMonitor>>,
}

enum ServerKind {
    Stdio {
        shared: Arc<ServerShared>,
        thread: Option<JoinHandle<()>>,
    },
    Socket {
        mon: Arc<sockets::SocketMonitor>,
        done: bool,
    },
}

impl MonitorServer {
    /// Bind `addr` and serve monitor clients on it from the monitor
    /// IOThread. Binding errors (the path exists, the directory does not,
    /// the port is taken) are returned with a clear message for start-up
    /// reporting.
    pub fn start(
        core: Arc<QmpCore>,
        dispatcher: Arc<Dispatcher>,
        addr: &SocketAddr,
        mode: MonitorMode,
    ) -> std::io::Result<MonitorServer> {
        let listener = Listener::bind(addr)?;
        let slot = Arc::new(ConnSlot::default());
        let monitor = match mode {
            // The monitor's I/O runs in an IOThread, so `oob` is offered,
            // as QEMU does for socket monitors.
            MonitorMode::Control => Some(QmpMonitor::new(core.clone(), slot.clone(), true)),
            MonitorMode::Readline => None,
        };
        let proto = match &monitor {
            Some(m) => sockets::Proto::Qmp(m.clone()),
            None => sockets::Proto::Hmp,
        };
        let mon = sockets::SocketMonitor::start(core, dispatcher.clone(), listener, proto, slot)?;
        let weak: Weak<dyn MonitorShutdown> = Arc::downgrade(&mon) as Weak<sockets::SocketMonitor>;
        lock(&dispatcher.servers).push(weak);
        Ok(MonitorServer {
            kind: ServerKind::Socket { mon, done: false },
            monitor,
        })
    }

    /// Serve one monitor on the process's stdin/stdout (`-monitor stdio`,
    /// `-qmp stdio`) until stdin reaches end of file.
    pub fn start_stdio(
        core: Arc<QmpCore>,
        dispatcher: Arc<Dispatcher>,
        mode: MonitorMode,
    ) -> std::io::Result<MonitorServer> {
        let slot = Arc::new(ConnSlot::default());
        let shared = Arc::new(ServerShared {
            listener: None,
            stop: AtomicBool::new(false),
            slot: slot.clone(),
        });
        let weak: Weak<dyn MonitorShutdown> = Arc::downgrade(&shared) as Weak<ServerShared>;
        lock(&dispatcher.servers).push(weak);
        let monitor = match mode {
            MonitorMode::Control => Some(QmpMonitor::new(core.clone(), slot, true)),
            MonitorMode::Readline => None,
        };
        let sh = shared.clone();
        let mon = monitor.clone();
        let t = std::thread::Builder::new()
            .name("monitor-stdio".into())
            .spawn(move || {
                serve_connection(&core, &dispatcher, &sh, mon.as_ref(), Stream::Stdio)
            })?;
        Ok(MonitorServer {
            kind: ServerKind::Stdio {
                shared,
                thread: Some(t),
            },
            monitor,
        })
    }

    /// The local TCP port, for `tcp:HOST:0` listeners.
    pub fn tcp_port(&self) -> Option<u16> {
        match &self.kind {
            ServerKind::Socket { mon, .. } => match mon.listener() {
                Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
                Listener::Unix(..) => None,
            },
            ServerKind::Stdio { .. } => None,
        }
    }

    /// The QMP monitor behind this socket (None for HMP).
    pub fn monitor(&self) -> Option<&Arc<QmpMonitor>> {
        self.monitor.as_ref()
    }

    /// Stop accepting, send what is queued, disconnect the client, and
    /// remove the socket file.
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        match &mut self.kind {
            ServerKind::Stdio { shared, thread } => {
                let current = lock(&shared.slot.current).clone();
                shared.shutdown();
                if let Some(Current::Thread(c)) = current {
                    // Everything queued (e.g. the reply to `quit`) reaches
                    // the client before the process can exit.
                    c.wait_done();
                }
                // The stdio thread may sit in a read of stdin that nothing
                // can interrupt; it is left to end with the process.
                thread.take();
            }
            ServerKind::Socket { mon, done } => {
                if *done {
                    return;
                }
                *done = true;
                mon.shutdown();
                if let Listener::Unix(_, p) = mon.listener() {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

impl Drop for MonitorServer {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

/// Counts a monitor's outstanding in-band requests.
#[derive(Default)]
struct Inflight {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Inflight {
    fn acquire(&self, max: usize) {
        let mut n = lock(&self.n);
        while *n >= max {
            n = self.cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }
    fn release(&self) {
        *lock(&self.n) -= 1;
        self.cv.notify_all();
    }
    fn wait_idle(&self) {
        let mut n = lock(&self.n);
        while *n > 0 {
            n = self.cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One outstanding request's claim on its monitor's [`Inflight`] count,
/// released when dropped, so that a queued request the dispatcher discards
/// (at exit) cannot leave the connection waiting for it forever.
struct InflightSlot(Arc<Inflight>);

impl Drop for InflightSlot {
    fn drop(&mut self) {
        self.0.release();
    }
}

fn serve_connection(
    core: &Arc<QmpCore>,
    dispatcher: &Arc<Dispatcher>,
    server: &Arc<ServerShared>,
    qmp: Option<&Arc<QmpMonitor>>,
    stream: Stream,
) {
    let Ok(wstream) = stream.try_clone() else {
        return;
    };
    let Ok(cstream) = stream.try_clone() else {
        return;
    };
    let out = Arc::new(ConnOutput {
        state: Mutex::new(OutState::default()),
        cv: Condvar::new(),
        stream: cstream,
    });
    let o2 = out.clone();
    let Ok(writer) = std::thread::Builder::new()
        .name("monitor-out".into())
        .spawn(move || o2.writer_loop(wstream))
    else {
        return;
    };
    *lock(&server.slot.current) = Some(Current::Thread(out.clone()));
    match qmp {
        Some(mon) => serve_qmp(core, dispatcher, server, mon, stream),
        None => serve_hmp(core, dispatcher, server, stream),
    }
    // Flush before letting go of the slot: a shutdown that finds the slot
    // empty does not wait, so the replies still queued (e.g. to `quit`,
    // read together with the end of stdin) would be lost at exit.
    out.finish();
    let _ = writer.join();
    *lock(&server.slot.current) = None;
    out.stream.shutdown();
}

fn serve_qmp(
    _core: &Arc<QmpCore>,
    dispatcher: &Arc<Dispatcher>,
    server: &Arc<ServerShared>,
    mon: &Arc<QmpMonitor>,
    mut stream: Stream,
) {
    let generation = mon.client_connected();
    let mut parser = JsonMessageParser::new();
    let inflight = Arc::new(Inflight::default());
    let mut buf = vec![0u8; 4096];
    'conn: while !server.stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let msgs = parser.feed_collect(&buf[..n]);
        for msg in msgs {
            if QmpMonitor::is_oob_request(&msg) {
                // Out of band: executed right here in the I/O thread.
                mon.handle(msg);
                continue;
            }
            let max = if mon.oob_enabled() {
                QMP_REQ_QUEUE_LEN_MAX
            } else {
                1
            };
            inflight.acquire(max);
            let (m, slot) = (mon.clone(), InflightSlot(inflight.clone()));
            let ok = dispatcher.submit(Box::new(move || {
                // Dropping the slot (after the command, or unrun when the
                // dispatcher discards its queue at exit) releases it.
                let _slot = slot;
                // Requests of a client that has gone are dropped
                // (monitor_qmp_cleanup_queue_and_resume()).
                if m.generation() == generation {
                    m.handle(msg);
                }
            }));
            if !ok {
                break 'conn;
            }
            if !mon.oob_enabled() {
                // Without OOB QEMU suspends the monitor until the request
                // is done, so later input is not even read.
                inflight.wait_idle();
            }
        }
    }
    mon.client_disconnected();
    // Let a command still running for this client finish before the next
    // client is accepted, so its reply cannot reach the next client.
    inflight.wait_idle();
}

fn serve_hmp(
    core: &Arc<QmpCore>,
    dispatcher: &Arc<Dispatcher>,
    server: &Arc<ServerShared>,
    mut stream: Stream,
) {
    let v = &core.version;
    let banner = format!(
        "QEMU {}.{}.{} monitor - type 'help' for more information\r\n(qemu) ",
        v.major, v.minor, v.micro
    );
    server.slot.write_line(banner.as_bytes());
    // QEMU's readline runs on every HMP monitor: it echoes what is typed
    // and edits the line.
    let mut rl = crate::readline::Readline::new();
    let mut buf = [0u8; 4096];
    while !server.stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            let mut echo = Vec::new();
            let line = rl.handle_byte(b, &mut echo);
            if !echo.is_empty() {
                server.slot.write_line(&echo);
            }
            let Some(text) = line else {
                continue;
            };
            let c = core.clone();
            let Some(out) = dispatcher.run_sync(move || c.hmp.run_line(&c, &text, None)) else {
                return;
            };
            let mut reply = to_crlf(&out);
            // No prompt after `quit` (the flag is set by the command
            // itself, so this is not racy).
            if !core.machine.exit_requested() {
                reply.push_str("(qemu) ");
                rl.prompt_shown();
            }
            server.slot.write_line(reply.as_bytes());
        }
    }
}

/// Convenience for tests and the CLI: parse `unix:PATH` / `tcp:HOST:PORT`
/// (options after a comma, such as `server=on,wait=off`, are ignored).
pub fn parse_socket_addr(spec: &str) -> Option<SocketAddr> {
    let main = spec.split(',').next()?;
    if let Some(p) = main.strip_prefix("unix:") {
        return Some(SocketAddr::Unix(Path::new(p).to_path_buf()));
    }
    main.strip_prefix("tcp:")
        .map(|a| SocketAddr::Tcp(a.to_owned()))
}
