internal import Synchronization
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Runs the jobs of tasks that prefer it on one subscription's reader thread, between
/// two reads of its socket (``Subscription/readerExecutor``).
///
/// A consumer that iterates the subscription under this preference is resumed on the
/// thread that read its batch, instead of being woken on another thread: one runnable
/// thread per subscription, as a C listener has, instead of two.
///
/// Locking: `state` (a leaf lock: nothing is called while it is held but the wake-up
/// write, which never blocks). Jobs run on the reader thread only, outside the lock.
/// Once the reader thread has ended, jobs are passed on to the global concurrent
/// executor, so code that still prefers this executor keeps running.
final class ReaderExecutor: TaskExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        /// The reader thread, once it runs.
        var thread: pthread_t?
        /// The reader thread has ended: jobs go to the global executor.
        var ended = false
    }

    private let state = Mutex(State())
    /// The reader's wake-up descriptor: a job enqueued from another thread wakes it
    /// from poll().
    private let wake: EventFD
    /// How many jobs one ``runPending()`` runs at most before the reader reads again.
    static let jobsPerTurn = 64

    init(wake: EventFD) {
        self.wake = wake
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        enum Then { case nothing, wake, forward }
        let then: Then = state.withLock { s in
            if s.ended { return .forward }
            s.jobs.append(unowned)
            // One wake-up for a queue that was empty; none from the reader thread itself,
            // which runs the queue before it polls again.
            let onReader = s.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
            return s.jobs.count == 1 && !onReader ? .wake : .nothing
        }
        switch then {
        case .nothing: break
        case .wake: wake.signal()
        case .forward: globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
        }
    }

    /// Reader thread, first thing it does.
    func attach() {
        state.withLock { $0.thread = pthread_self() }
    }

    /// Whether jobs are waiting (then the reader polls without waiting).
    var hasPending: Bool { state.withLock { !$0.jobs.isEmpty } }

    /// Reader thread: runs the jobs queued so far, at most ``jobsPerTurn``, and those
    /// they enqueue in turn until then.
    func runPending() {
        var ran = 0
        while ran < Self.jobsPerTurn {
            let jobs: [UnownedJob] = state.withLock { s in
                if s.jobs.isEmpty { return [] }
                let n = min(s.jobs.count, Self.jobsPerTurn - ran)
                let taken = Array(s.jobs.prefix(n))
                s.jobs.removeFirst(n)
                return taken
            }
            if jobs.isEmpty { return }
            for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
            ran += jobs.count
        }
    }

    /// Reader thread, last thing it does: what is queued, and every job from now on,
    /// goes to the global concurrent executor.
    func detach() {
        let left: [UnownedJob] = state.withLock { s in
            s.ended = true
            defer { s.jobs = [] }
            return s.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
