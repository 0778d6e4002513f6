/// A bounded pool of threads, started on demand, that run handlers.
///
/// The server keeps two (see `HTTPServer`): one for complete requests, whose threads are busy
/// only while a handler computes or waits on a backend, with a bounded queue in front; and one
/// for requests whose body is still arriving, whose threads mostly wait on a client, with no
/// queue at all (a request that finds no thread is refused at once rather than left waiting
/// behind uploads that may take minutes). Threads beyond `keepIdle` end as soon as they find
/// nothing to do, so a burst of uploads does not leave a thousand idle threads behind.
final class WorkerPool: @unchecked Sendable {
    enum Admission {
        case accepted
        /// Every thread is taken and the queue is full (or no thread could be started).
        case busy
        /// The pool is shut down.
        case stopped
    }

    private let condition = ConditionLock()
    private let maxThreads: Int
    private let maxQueued: Int
    private let keepIdle: Int
    private var queue: [WorkerJob] = []
    private var queueHead = 0
    private var idle = 0
    private var busy = 0
    private var alive = 0
    private var stopped = false

    init(maxThreads: Int, maxQueued: Int, keepIdle: Int) {
        self.maxThreads = max(1, maxThreads)
        self.maxQueued = max(0, maxQueued)
        self.keepIdle = max(0, keepIdle)
    }

    /// Jobs running or waiting.
    var busyCount: Int { condition.withLock { busy + (queue.count - queueHead) } }

    /// Threads alive (running a job, idle, or just started).
    var threadCount: Int { condition.withLock { alive } }

    /// Runs `job` on an idle thread, a new thread, or (room permitting) queues it.
    func submit(_ job: WorkerJob, run: @escaping @Sendable (WorkerJob) -> Void) -> Admission {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return .stopped }
        // Idle threads not yet claimed by a queued job (a signalled thread stays counted as
        // idle until it wakes, so queued jobs are subtracted).
        let waiting = queue.count - queueHead
        if idle - waiting > 0 {
            queue.append(job)
            condition.signal()
            return .accepted
        }
        if alive < maxThreads, (try? OSThread.start(detached: true, { [self] in work(run) })) != nil {
            alive += 1
            queue.append(job)
            return .accepted
        }
        // No thread for it now: queue it only if some thread will come for it.
        guard alive > 0, waiting - max(0, idle) < maxQueued else { return .busy }
        queue.append(job)
        return .accepted
    }

    private func work(_ run: @Sendable (WorkerJob) -> Void) {
        condition.lock()
        while true {
            while queueHead == queue.count && !stopped && alive <= keepIdle {
                idle += 1
                condition.wait()
                idle -= 1
            }
            if queueHead == queue.count {
                // Shut down, or more threads than are kept idle: end this one.
                alive -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
            busy += 1
            condition.unlock()
            run(job)
            condition.lock()
            busy -= 1
        }
    }

    /// Lets queued jobs drain, then waits until every thread has ended.
    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while alive > 0 { condition.wait() }
        condition.unlock()
    }
}
