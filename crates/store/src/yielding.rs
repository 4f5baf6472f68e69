//! Background work that gives the CPU to request handling at once.
//!
//! Recording and the batch writer run beside the proxy's serving lanes on the same few cores.
//! At normal priority (or niced), Linux's scheduler lets a running background thread finish
//! its slice before a lane woken by a socket gets the core back: one writer commit or one
//! recording window in the way of a request shows as a millisecond or more in the proxy's p99.
//! Under `SCHED_IDLE` a thread runs only on a core nothing else wants, and a waking lane
//! preempts it at once. The work is not starved for long in practice: a lane waiting on its
//! sockets leaves the core idle. Where it would be (a saturated machine), the callers fall back
//! to normal priority: the recording queue, once full, is worked off on the lanes' own tasks,
//! and the writer writes at normal priority while its queue holds a full batch or more; the
//! recording thread itself returns to a niced normal priority while the queues it feeds hold
//! more than a small part of their byte budget.
//!
//! A machine kept busy by other programs (a build, a browser) is different: there an idle
//! thread gets well under 1% of a core for as long as they run, and a backlog too small to
//! trip those limits would wait that long. So every yielding thread is watched by a normal
//! priority one holding its [`Promoter`]: work left waiting past a bound (a fraction of a
//! second) is finished at normal priority, and the thread yields again once it has caught up.
//!
//! Elsewhere than Linux these are no-ops.

/// The calling thread runs as `SCHED_IDLE` from now on. False if the system refused, if it
/// would not let a thread come back to normal priority (see [`available`]), or if this is not
/// Linux; the thread then keeps its priority.
pub fn idle_this_thread() -> bool {
    available() && set_idle()
}

/// The calling thread back at normal priority (`SCHED_OTHER`, nice 0), after
/// [`idle_this_thread`].
pub fn normal_this_thread() {
    if let Err(error) = set_normal() {
        tracing::warn!(%error, "a thread could not return to normal priority");
    }
}

/// Whether background threads may yield: only where a thread that went `SCHED_IDLE` can come
/// back to normal priority. Linux lets anyone lower a thread's priority, but raising it again
/// takes `CAP_SYS_NICE` or a `RLIMIT_NICE` allowance, which an ordinary user or a container
/// without that capability lacks: there a writer lent an idle pool thread could never catch up.
/// Tried once, on a thread of its own.
pub fn available() -> bool {
    static ROUND_TRIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROUND_TRIP.get_or_init(|| {
        let tried = std::thread::Builder::new()
            .name("tw-sched-probe".into())
            .spawn(|| set_idle() && set_normal().is_ok());
        let ok = tried.is_ok_and(|t| t.join().unwrap_or(false));
        if !ok {
            tracing::debug!(
                "background threads keep their priority: this process may not raise a thread's priority back"
            );
        }
        ok
    })
}

#[cfg(target_os = "linux")]
fn set_idle() -> bool {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .is_ok()
}

#[cfg(target_os = "linux")]
fn set_normal() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
    )
    .map_err(|e| format!("{e:?}"))
}

#[cfg(not(target_os = "linux"))]
fn set_idle() -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn set_normal() -> Result<(), String> {
    Ok(())
}

/// Lets a thread at normal priority end another thread's yielding early, when work has waited
/// on it for too long. The yielding thread registers itself while it is idle; [`Promoter::promote`]
/// moves it back to `SCHED_OTHER` at the niceness it registered with. Clones share the handle.
#[derive(Clone, Default)]
pub struct Promoter {
    inner: std::sync::Arc<PromoterInner>,
}

#[derive(Default)]
struct PromoterInner {
    /// The registered thread. Its IDs are used only under this lock, and a thread unregisters
    /// (under it) before it stops yielding or ends: a thread gone is never touched.
    thread: std::sync::Mutex<Option<Registered>>,
    /// Set by a promotion, taken by the thread ([`Promoter::take_promoted`]).
    promoted: std::sync::atomic::AtomicBool,
}

#[cfg(target_os = "linux")]
struct Registered {
    native: thread_priority::ThreadId,
    tid: rustix::thread::Pid,
    nice: i32,
}

#[cfg(not(target_os = "linux"))]
struct Registered;

impl Promoter {
    /// Registers the calling thread, which has just become idle; a promotion gives it `nice`.
    pub fn register_this_thread(&self, nice: i32) {
        #[cfg(target_os = "linux")]
        let registered = Registered {
            native: thread_priority::thread_native_id(),
            tid: rustix::thread::gettid(),
            nice,
        };
        #[cfg(not(target_os = "linux"))]
        let registered = {
            let _ = nice;
            Registered
        };
        *self.lock() = Some(registered);
    }

    /// The calling thread is no longer registered (before it stops yielding, or ends).
    pub fn unregister(&self) {
        self.lock().take();
    }

    /// Moves the registered thread back to normal priority, if one is still yielding; true if
    /// this call did. The thread stays unregistered: it registers again when it next idles.
    pub fn promote(&self) -> bool {
        let mut thread = self.lock();
        let Some(registered) = thread.take() else {
            return false;
        };
        self.inner
            .promoted
            .store(true, std::sync::atomic::Ordering::Release);
        promote(&registered);
        true
    }

    /// Whether the thread was promoted since the last call.
    pub fn take_promoted(&self) -> bool {
        self.inner
            .promoted
            .swap(false, std::sync::atomic::Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Registered>> {
        // The guarded value is two IDs: a panic elsewhere cannot leave it half-written.
        self.inner
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(target_os = "linux")]
fn promote(thread: &Registered) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy,
    };
    // The policy is set on the thread named; the crate then sets the niceness of the calling
    // thread, to the default it already has. The niceness of the thread named is set after.
    let policy = set_thread_priority_and_policy(
        thread.native,
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
    );
    let nice = rustix::process::setpriority_process(Some(thread.tid), thread.nice);
    if policy.is_err() || nice.is_err() {
        tracing::warn!(?policy, ?nice, "a yielding thread could not be promoted");
    }
}

#[cfg(not(target_os = "linux"))]
fn promote(_: &Registered) {}

/// While alive, the calling thread (a pool thread lent for one piece of work) runs as
/// `SCHED_IDLE`, registered with a [`Promoter`]; dropped, it is back at normal priority. Must
/// be dropped on the thread that made it.
#[must_use = "the thread is back at normal priority when this is dropped"]
pub struct IdleWhile {
    promoter: Option<Promoter>,
    /// Not `Send`: it restores the thread it was made on.
    _here: std::marker::PhantomData<*const ()>,
}

impl IdleWhile {
    pub fn start(promoter: &Promoter) -> Self {
        let set = idle_this_thread();
        if set {
            promoter.register_this_thread(0);
        }
        Self {
            promoter: set.then(|| promoter.clone()),
            _here: std::marker::PhantomData,
        }
    }
}

impl Drop for IdleWhile {
    fn drop(&mut self) {
        if let Some(promoter) = self.promoter.take() {
            promoter.unregister();
            normal_this_thread();
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
#[expect(clippy::expect_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    /// Field `n` (0-based, counted after the command name) of `/proc/self/task/<tid>/stat`.
    fn stat_field(tid: i32, n: usize) -> i32 {
        let stat =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("readable");
        let after = stat.rsplit_once(')').expect("a command name").1;
        let field = after.split_whitespace().nth(n).expect("the field");
        field.parse().expect("a number")
    }

    /// The calling thread's scheduling policy: 0 normal, 5 idle.
    fn policy() -> i32 {
        policy_of(rustix::thread::gettid().as_raw_nonzero().get())
    }

    fn policy_of(tid: i32) -> i32 {
        stat_field(tid, 38)
    }

    fn nice_of(tid: i32) -> i32 {
        stat_field(tid, 16)
    }

    /// A thread that idles and registers with `nice`, then waits to be told to go on.
    fn idle_thread(
        promoter: &Promoter,
        nice: i32,
    ) -> (
        i32,
        std::sync::mpsc::Sender<()>,
        std::thread::JoinHandle<bool>,
    ) {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let promoter = promoter.clone();
        let thread = std::thread::spawn(move || {
            assert!(idle_this_thread());
            promoter.register_this_thread(nice);
            tid_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get())
                .expect("the test waits");
            go_rx.recv().expect("the test says go");
            promoter.unregister();
            promoter.take_promoted()
        });
        (tid_rx.recv().expect("the thread started"), go_tx, thread)
    }

    #[test]
    fn a_promoted_thread_runs_normal_at_the_niceness_it_registered() {
        if !available() {
            return;
        }
        let promoter = Promoter::default();
        let (tid, go, thread) = idle_thread(&promoter, 10);
        assert_eq!(policy_of(tid), 5);
        assert!(promoter.promote());
        assert_eq!(policy_of(tid), 0, "SCHED_OTHER after the promotion");
        assert_eq!(nice_of(tid), 10);
        assert!(!promoter.promote(), "promoted once, then unregistered");
        assert_eq!(policy(), 0, "the promoting thread is untouched");
        assert_eq!(nice_of(rustix::thread::gettid().as_raw_nonzero().get()), 0);
        go.send(()).expect("the thread waits");
        assert!(
            thread.join().expect("the thread ran"),
            "the thread learns it was promoted"
        );
    }

    #[test]
    fn an_unregistered_thread_is_not_promoted() {
        if !available() {
            return;
        }
        let promoter = Promoter::default();
        let (tid, go, thread) = idle_thread(&promoter, 0);
        promoter.unregister();
        assert!(!promoter.promote());
        assert_eq!(policy_of(tid), 5, "still idle");
        go.send(()).expect("the thread waits");
        assert!(!thread.join().expect("the thread ran"));
    }

    #[test]
    fn a_lent_thread_idles_for_the_work_and_comes_back() {
        let promoter = Promoter::default();
        if !available() {
            // An unprivileged run: nothing may yield, so nothing changes.
            let _idle = IdleWhile::start(&promoter);
            assert_eq!(policy(), 0);
            assert!(!promoter.promote(), "nothing registered");
            return;
        }
        std::thread::spawn(move || {
            assert_eq!(policy(), 0);
            {
                let _idle = IdleWhile::start(&promoter);
                assert_eq!(policy(), 5, "SCHED_IDLE while the guard lives");
            }
            assert_eq!(policy(), 0, "SCHED_OTHER once it is dropped");
            assert!(idle_this_thread());
            assert_eq!(policy(), 5);
        })
        .join()
        .expect("the thread's assertions held");
    }
}
