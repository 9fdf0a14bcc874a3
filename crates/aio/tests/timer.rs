//! Timer invariants (spec §(c) 12, 16, 20, 21, 24, 25) with REALTIME timers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrite_aio::timer::{qemu_soonest_timeout, qemu_timeout_ns_to_ms};
use ferrite_aio::{AioContext, ClockType, QemuClock, Timer};
use proptest::prelude::*;

const RT: ClockType = ClockType::Realtime;

proptest! {
    /// Reference model: timers fire sorted by deadline; equal deadlines in
    /// the order of their *last* arming; deleted timers never fire.
    #[test]
    fn expired_timers_fire_in_deadline_then_arming_order(
        ops in prop::collection::vec((0usize..8, 0i64..4, any::<bool>()), 1..40)
    ) {
        let ctx = AioContext::new("prop").unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let timers: Vec<Timer> = (0..8).map(|i| {
            let l = Arc::clone(&log);
            Timer::new(&ctx, RT, move || l.lock().unwrap().push(i))
        }).collect();
        // Model: per timer, Some((deadline, arm_seq)).
        let mut model: Vec<Option<(i64, usize)>> = vec![None; 8];
        for (seq, (i, deadline, del)) in ops.into_iter().enumerate() {
            if del {
                timers[i].del();
                model[i] = None;
            } else {
                // Absolute deadlines 0..4 ns: all long expired.
                timers[i].modify_ns(deadline);
                model[i] = Some((deadline, seq));
            }
        }
        let mut expected: Vec<(i64, usize, usize)> = model.iter().enumerate()
            .filter_map(|(i, m)| m.map(|(d, s)| (d, s, i))).collect();
        expected.sort();
        let expected: Vec<usize> = expected.into_iter().map(|e| e.2).collect();
        ctx.poll(false);
        prop_assert_eq!(&*log.lock().unwrap(), &expected);
        prop_assert!(timers.iter().all(|t| !t.pending()));
    }
}

#[test]
fn never_fires_before_the_deadline() {
    let ctx = AioContext::new("early").unwrap();
    let bad = Arc::new(AtomicUsize::new(0));
    let fired = Arc::new(AtomicUsize::new(0));
    let mut timers = Vec::new();
    for i in 0..20 {
        let deadline = QemuClock::get_ns(RT) + 50_000 * i;
        let (b, f) = (Arc::clone(&bad), Arc::clone(&fired));
        let t = Timer::new(&ctx, RT, move || {
            if QemuClock::get_ns(RT) < deadline {
                b.fetch_add(1, Ordering::SeqCst);
            }
            f.fetch_add(1, Ordering::SeqCst);
        });
        t.modify_ns(deadline);
        timers.push(t);
    }
    while fired.load(Ordering::SeqCst) < 20 {
        ctx.poll(true);
    }
    assert_eq!(bad.load(Ordering::SeqCst), 0);
}

/// Invariant 16: arming an earlier timer from another thread wakes a loop
/// blocked on a later deadline (the loop would otherwise sleep an hour).
#[test]
fn timer_mod_from_another_thread_wakes_the_loop() {
    let ctx = AioContext::new("wake").unwrap();
    let far = Timer::new(&ctx, RT, || {});
    far.modify_ns(QemuClock::get_ns(RT) + 3_600_000_000_000);
    let hit = Arc::new(AtomicBool::new(false));
    let h = Arc::clone(&hit);
    let near = Arc::new(Timer::new(&ctx, RT, move || {
        h.store(true, Ordering::SeqCst)
    }));
    ctx.poll(false);
    let n2 = Arc::clone(&near);
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(5));
        n2.modify_ns(QemuClock::get_ns(RT) + 100_000);
    });
    while !hit.load(Ordering::SeqCst) {
        ctx.poll(true);
    }
    t.join().unwrap();
    assert!(far.pending());
}

#[test]
fn del_from_another_thread_prevents_the_start() {
    let ctx = AioContext::new("del").unwrap();
    let hit = Arc::new(AtomicBool::new(false));
    let h = Arc::clone(&hit);
    let t = Arc::new(Timer::new(&ctx, RT, move || {
        h.store(true, Ordering::SeqCst)
    }));
    t.modify_ns(QemuClock::get_ns(RT) - 1);
    let t2 = Arc::clone(&t);
    std::thread::spawn(move || t2.del()).join().unwrap();
    assert!(!t.pending());
    assert!(!ctx.poll(false));
    assert!(!hit.load(Ordering::SeqCst));
}

#[test]
fn anticipate_never_makes_a_timer_later() {
    let ctx = AioContext::new("ant").unwrap();
    let t = Timer::new(&ctx, RT, || {});
    t.modify_anticipate_ns(1000);
    assert_eq!(t.expire_time_ns(), 1000);
    t.modify_anticipate_ns(5000);
    assert_eq!(t.expire_time_ns(), 1000);
    t.modify_anticipate_ns(10);
    assert_eq!(t.expire_time_ns(), 10);
    t.modify_ns(-5);
    assert_eq!(t.expire_time_ns(), 0, "deadlines are clamped to 0");
    let ms = Timer::new_scaled(&ctx, RT, ferrite_aio::timer::SCALE_MS, || {});
    ms.modify(3);
    assert_eq!(ms.expire_time_ns(), 3_000_000);
    assert!(ms.expired(3));
    assert!(!ms.expired(2));
}

#[test]
fn callback_may_rearm_itself_and_fires_again_if_expired() {
    let ctx = AioContext::new("rearm").unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<Arc<Timer>>>> = Arc::new(Mutex::new(None));
    let (n2, s2) = (Arc::clone(&n), Arc::clone(&slot));
    let t = Arc::new(Timer::new(&ctx, RT, move || {
        if n2.fetch_add(1, Ordering::SeqCst) < 2 {
            s2.lock().unwrap().as_ref().unwrap().modify_ns(0);
        }
    }));
    *slot.lock().unwrap() = Some(Arc::clone(&t));
    t.modify_ns(0);
    assert!(ctx.poll(false));
    assert_eq!(
        n.load(Ordering::SeqCst),
        3,
        "re-armed in the past: fires again in the same run"
    );
    slot.lock().unwrap().take();
}

#[test]
fn timeout_helpers() {
    assert_eq!(qemu_timeout_ns_to_ms(-1), -1);
    assert_eq!(qemu_timeout_ns_to_ms(0), 0);
    assert_eq!(qemu_timeout_ns_to_ms(1), 1);
    assert_eq!(qemu_timeout_ns_to_ms(1_000_000), 1);
    assert_eq!(qemu_timeout_ns_to_ms(1_000_001), 2);
    assert_eq!(qemu_timeout_ns_to_ms(i64::MAX), i64::from(i32::MAX));
    assert_eq!(qemu_soonest_timeout(-1, 5), 5);
    assert_eq!(qemu_soonest_timeout(5, -1), 5);
    assert_eq!(qemu_soonest_timeout(-1, -1), -1);
    assert_eq!(qemu_soonest_timeout(3, 5), 3);
}

#[test]
fn realtime_and_host_advance() {
    let a = QemuClock::get_ns(RT);
    let h = QemuClock::get_ns(ClockType::Host);
    std::thread::sleep(std::time::Duration::from_millis(1));
    assert!(QemuClock::get_ns(RT) > a);
    assert!(QemuClock::get_ns(ClockType::Host) > h);
    assert!(QemuClock::is_enabled(RT));
}

#[test]
fn virtual_clock_source_hook() {
    // Only VIRTUAL follows the accelerator's source; VIRTUAL_RT does not.
    // (Ticks are never enabled in this test binary, so cpu_get_clock is 0.)
    fn icount_clock() -> i64 {
        123_456
    }
    ferrite_aio::timer::set_virtual_clock_source(Some(icount_clock));
    assert_eq!(QemuClock::get_ns(ClockType::Virtual), 123_456);
    assert_eq!(QemuClock::get_ns(ClockType::VirtualRt), 0);
    ferrite_aio::timer::set_virtual_clock_source(None);
    assert_eq!(QemuClock::get_ns(ClockType::Virtual), 0);
}
