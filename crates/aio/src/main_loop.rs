//! The main loop (`util/main-loop.c`, the request side of
//! `system/runstate.c`).
//!
//! Two contexts live in the main thread: the *main context*
//! ([`qemu_get_aio_context`]), where bottom halves and timers of the
//! machine run and which nested polls (`AIO_WAIT_WHILE`) drive, and the
//! *iohandler context* ([`iohandler_get_aio_context`]), which holds the
//! legacy fd handlers of [`qemu_set_fd_handler`] (chardevs, the monitor)
//! and the `main_loop_tlg` timers of [`Timer::new_main`]. Only
//! [`main_loop_wait`] dispatches the iohandler context, so a nested poll of
//! the main context never runs a chardev or monitor handler.
//!
//! One [`main_loop_wait`] blocks once for both: it polls the main context
//! with the iohandler context's epoll fd as an extra wake-up source and its
//! deadline as a cap, releasing the BQL only while blocked, then dispatches
//! the iohandler context without blocking.
//!
//! SIGINT, SIGTERM and SIGHUP are turned into a shutdown request: the
//! async-signal-safe handler only records the signal and writes the main
//! context's eventfd; the request is acted on in the loop.
//!
//! [`Timer::new_main`]: crate::Timer::new_main

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::bh::QemuBh;
use crate::context::{AioContext, FdMonKind, IoHandler, set_current_aio_context, set_main_context};
use crate::runstate::{
    RESET_REQUESTED, RunState, SHUTDOWN_PID, SHUTDOWN_REQUESTED, SHUTDOWN_SIGNAL, ShutdownCause,
    VMSTOP_REQUESTED, notify_shutdown, shutdown_action_pause, vm_stop, vmstop_state,
};
use crate::timer::{ClockType, SCALE_NS, Timer};
use crate::{EventNotifier, bql};

struct MainLoop {
    main: Arc<AioContext>,
    iohandler: Arc<AioContext>,
    notify_bh: QemuBh,
}

static MAIN_LOOP: OnceLock<MainLoop> = OnceLock::new();
static SIGNAL_NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);

/// `qemu_init_main_loop`: creates the main and iohandler contexts, makes
/// the calling thread the main thread (its current context is the main
/// context) and installs the SIGINT/SIGTERM/SIGHUP handlers. Idempotent
/// when called again from the main thread.
///
/// # Panics
/// If the calling thread already has another context.
pub fn qemu_init_main_loop() -> std::io::Result<()> {
    if let Some(ml) = MAIN_LOOP.get() {
        set_current_aio_context(&ml.main);
        return Ok(());
    }
    let main = set_main_context(AioContext::new("main")?);
    let iohandler = AioContext::build("iohandler", FdMonKind::Epoll, true)?;
    assert!(
        iohandler.epoll_fd().is_some(),
        "the iohandler context needs epoll"
    );
    set_current_aio_context(&main);
    let notify_bh = main.bh_new("qemu_notify_bh", || {});
    let ml = MAIN_LOOP.get_or_init(|| MainLoop {
        main,
        iohandler,
        notify_bh,
    });
    SIGNAL_NOTIFY_FD.store(ml.main.notifier_fd(), Ordering::Release);
    install_signal_handlers()?;
    Ok(())
}

fn ml() -> &'static MainLoop {
    MAIN_LOOP
        .get()
        .expect("main loop not initialised (qemu_init_main_loop)")
}

/// `qemu_get_aio_context`: the main context.
pub fn qemu_get_aio_context() -> Arc<AioContext> {
    Arc::clone(&ml().main)
}

/// `iohandler_get_aio_context`.
pub fn iohandler_get_aio_context() -> Arc<AioContext> {
    Arc::clone(&ml().iohandler)
}

/// `qemu_notify_event`: wakes the main loop.
pub fn qemu_notify_event() {
    if let Some(ml) = MAIN_LOOP.get() {
        ml.notify_bh.schedule();
    }
}

/// `qemu_bh_new`: a bottom half in the main context.
pub fn qemu_bh_new(name: &'static str, cb: impl Fn() + Send + Sync + 'static) -> QemuBh {
    ml().main.bh_new(name, cb)
}

/// `qemu_set_fd_handler`: a level-triggered handler in the iohandler
/// context (never run by nested polls). Both `None` removes it.
pub fn qemu_set_fd_handler(fd: RawFd, io_read: Option<IoHandler>, io_write: Option<IoHandler>) {
    ml().iohandler.set_fd_rw(fd, io_read, io_write);
}

/// `event_notifier_set_handler`.
pub fn event_notifier_set_handler(e: &EventNotifier, io_read: Option<IoHandler>) {
    qemu_set_fd_handler(e.as_raw_fd(), io_read, None);
}

impl Timer {
    /// `timer_new_ns(type, cb)` (a `main_loop_tlg` timer): fires only from
    /// [`main_loop_wait`], never inside nested polls of the main context.
    pub fn new_main(clock: ClockType, cb: impl Fn() + Send + Sync + 'static) -> Timer {
        Timer::new_scaled(&ml().iohandler, clock, SCALE_NS, cb)
    }
}

/// `main_loop_wait(nonblocking)`: one iteration of the main loop.
pub fn main_loop_wait(nonblocking: bool) {
    let ml = ml();
    let ioh = &ml.iohandler;
    // Like glib's prepare: mark the iohandler context "may block" so that
    // notifications to it write its eventfd, which wakes us through its
    // epoll fd.
    let ioh_may_block = ioh.notify_state.set_external(true);
    let cap = if nonblocking || !ioh_may_block {
        0
    } else {
        ioh.compute_timeout()
    };
    let epfd = ioh.epoll_fd().expect("iohandler context uses epoll");
    ml.main.poll_inner(!nonblocking, Some((epfd, cap, true)));
    ioh.notify_state.set_external(false);
    ioh.poll(false);
}

/// `qemu_system_shutdown_request`: any thread.
pub fn qemu_system_shutdown_request(cause: ShutdownCause) {
    SHUTDOWN_REQUESTED.store(cause as i32, Ordering::Release);
    qemu_notify_event();
}

/// `qemu_system_reset_request`: any thread.
pub fn qemu_system_reset_request(cause: ShutdownCause) {
    RESET_REQUESTED.store(cause as i32, Ordering::Release);
    qemu_notify_event();
}

/// `qemu_system_vmstop_request`: stops the VM from the main loop (the
/// safe way to stop from a vCPU or a VIRTUAL timer callback).
pub fn qemu_system_vmstop_request(state: RunState) {
    VMSTOP_REQUESTED.store(state as u32 + 1, Ordering::Release);
    qemu_notify_event();
}

type ResetHandler = Box<dyn Fn(ShutdownCause) + Send + Sync>;
static RESET_HANDLER: parking_lot::Mutex<Option<ResetHandler>> = parking_lot::Mutex::new(None);

/// Installs the machine's reset function (`qemu_system_reset`), run in the
/// main loop when a reset is requested.
pub fn set_system_reset_handler(f: impl Fn(ShutdownCause) + Send + Sync + 'static) {
    *RESET_HANDLER.lock() = Some(Box::new(f));
}

/// `main_loop_should_exit`: acts on pending requests (main thread only).
/// Returns the shutdown cause when the loop should exit.
pub fn main_loop_should_exit() -> Option<ShutdownCause> {
    let sig = SHUTDOWN_SIGNAL.swap(0, Ordering::AcqRel);
    if sig != 0 {
        // qemu_system_killed: a host signal is a shutdown request.
        let pid = SHUTDOWN_PID.load(Ordering::Acquire);
        *crate::runstate::KILLED_BY.lock() = Some((sig, pid));
        SHUTDOWN_REQUESTED.store(ShutdownCause::HostSignal as i32, Ordering::Release);
    }
    let shutdown = SHUTDOWN_REQUESTED.swap(0, Ordering::AcqRel);
    if shutdown != 0 {
        let cause = ShutdownCause::from_i32(shutdown);
        notify_shutdown(cause);
        vm_stop(RunState::Shutdown);
        // A host signal always ends the loop, even with shutdown=pause.
        if !shutdown_action_pause() || cause == ShutdownCause::HostSignal {
            return Some(cause);
        }
    }
    let reset = RESET_REQUESTED.swap(0, Ordering::AcqRel);
    if reset != 0 {
        let cause = ShutdownCause::from_i32(reset);
        // The vCPUs are paused around the machine reset.
        crate::cpus::pause_all_vcpus();
        if let Some(h) = RESET_HANDLER.lock().as_ref() {
            h(cause);
        }
        // QEMU's resume_all_vcpus() does nothing unless the VM is
        // running: resetting a stopped VM must leave its vCPUs stopped.
        if crate::runstate::runstate_is_running() {
            crate::cpus::resume_all_vcpus();
        }
        let st = crate::runstate::runstate_get();
        if !matches!(
            st,
            RunState::Running | RunState::Inmigrate | RunState::FinishMigrate
        ) {
            crate::runstate::runstate_set(RunState::Prelaunch);
        }
    }
    let stop = VMSTOP_REQUESTED.swap(0, Ordering::AcqRel);
    if stop != 0 {
        vm_stop(vmstop_state(stop));
    }
    None
}

/// `qemu_main_loop`: runs [`main_loop_wait`] until a shutdown is requested,
/// holding the BQL except while blocked. A panicking callback is reported
/// on stderr and the loop goes on.
pub fn qemu_main_loop() -> ShutdownCause {
    let _bql = (!bql::bql_locked()).then(bql::bql_lock);
    loop {
        if let Some(cause) = main_loop_should_exit() {
            return cause;
        }
        if let Err(e) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| main_loop_wait(false)))
        {
            eprintln!(
                "ferrite: main loop callback panicked: {}",
                panic_message(&e)
            );
        }
    }
}

pub(crate) fn panic_message(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".to_owned()
    }
}

extern "C" fn termsig_handler(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _uc: *mut libc::c_void,
) {
    // Async-signal-safe: atomic stores and a write(2) to the eventfd.
    let pid = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
        unsafe { (*info).si_pid() }
    };
    SHUTDOWN_PID.store(pid, Ordering::Release);
    SHUTDOWN_SIGNAL.store(sig, Ordering::Release);
    let fd = SIGNAL_NOTIFY_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a live stack buffer to an eventfd
        // that lives as long as the process (the main context is static).
        unsafe { libc::write(fd, one.as_ptr().cast(), one.len()) };
    }
}

fn install_signal_handlers() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid starting point; we set the
        // handler to an async-signal-safe extern "C" function.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = termsig_handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
