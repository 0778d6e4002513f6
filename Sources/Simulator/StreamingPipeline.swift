import Foundation

// Rule: a dense streaming prediction has two halves that need nothing from each other but the
// limiter's outcomes, in order: the limiter half (each event's key, worker and decision, and
// its key's count in its fixed window: all per-key state, read at random) and the time-ordered
// half (each event's status, the summary's timeline, windows and busiest keys, the statuses
// hook). So, with two cores, they run on two threads, a chunk apart, as the source already
// runs a chunk ahead of both: the decisions and the summary are those of one thread, computed
// by the same code. The time-ordered half's only per-key input, each key's first client (for
// ties), is fixed when the key is added as long as no key comes from a trusted proxy header,
// so it travels with the chunk that added the key; with trusted proxy headers, and when
// predictions.csv rows are written (they name the keys), the prediction stays on one thread.

/// What the limiter half of a dense prediction works out for each event of a chunk.
final class LimiterOutcomes: @unchecked Sendable {
    // @unchecked: one thread at a time uses an instance, handed over under a queue's lock.
    private(set) var count = 0
    private var capacity = 0
    private(set) var keys = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var workers = UnsafeMutablePointer<UInt16>.allocate(capacity: 1)
    private(set) var decisions = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    /// The event's key's admitted count in the event's fixed window, this event included (0
    /// when refused).
    private(set) var windowCounts = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// The first client of each key the chunk added, in key order (pipelined runs).
    var newFirstClients: [Int32] = []
    /// The chunk's event columns (pipelined runs).
    var events: ChunkHandOff?

    init() {}

    /// Room for `n` events (the old values are not kept).
    func reset(count n: Int) {
        count = n
        guard n > capacity else { return }
        release()
        capacity = max(n, 2 * capacity)
        keys = .allocate(capacity: capacity)
        workers = .allocate(capacity: capacity)
        decisions = .allocate(capacity: capacity)
        windowCounts = .allocate(capacity: capacity)
    }

    private func release() {
        keys.deallocate()
        workers.deallocate()
        decisions.deallocate()
        windowCounts.deallocate()
    }

    deinit { release() }
}

/// A bounded hand-off of items from one thread to another, with spares handed back.
final class HandOffQueue<Item: Sendable>: @unchecked Sendable {
    // @unchecked: every stored property is used only under `condition`'s lock.
    private let condition = NSCondition()
    private var items: [Item] = []
    private var spares: [Item] = []
    private var closed = false
    private var stopped = false
    private var failure: (any Error)?
    private let depth: Int

    init(depth: Int) { self.depth = depth }

    /// Waits for room and adds `item`; false when the taking side has stopped.
    func push(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= depth && !stopped { condition.wait() }
        if stopped { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The next item, or nil once the giver has closed the queue and it is empty; rethrows the
    /// giver's failure.
    func pop() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if !items.isEmpty {
            condition.broadcast()
            return items.removeFirst()
        }
        if let failure { throw failure }
        return nil
    }

    /// Ends the giving side (with the error that ended it, if any).
    func close(failure: (any Error)? = nil) {
        condition.lock()
        closed = true
        self.failure = failure
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the taking side: a waiting or later `push` returns false.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    func giveBack(_ item: Item) {
        condition.lock()
        if spares.count <= depth { spares.append(item) }
        condition.unlock()
    }

    func spare() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        return spares.popLast()
    }
}

/// The limiter half of a pipelined prediction, on a thread of its own.
final class LimiterStage: @unchecked Sendable {
    // @unchecked: `state` and `clients` belong to the stage's thread until `join` has
    // waited for it; `thread` is set once, before anything waits for it.
    private(set) var state: StreamState
    private(set) var clients = 0
    let queue = HandOffQueue<LimiterOutcomes>(depth: 2)
    private var thread: JoinableThread?

    init(state: StreamState, reader: ChunkReader) {
        self.state = state
        thread = JoinableThread { [self] in run(reader) }
    }

    private func run(_ reader: ChunkReader) {
        // A pipelined state is dense (`pipelines`).
        guard let dense = state.dense else {
            queue.close()
            return
        }
        var columns = EventColumns()
        var noRows: PredictionRows? = nil
        while true {
            let handOff: ChunkHandOff?
            do {
                handOff = try reader.next()
            } catch {
                queue.close(failure: error)
                return
            }
            guard let handOff else { break }
            columns.take(handOff)
            let keysBefore = state.summary.firstClient.count
            state.addClients(columns, rows: &noRows)
            let out = queue.spare() ?? LimiterOutcomes()
            state.limit(columns, dense, into: out)
            out.newFirstClients = Array(state.summary.firstClient[keysBefore...])
            out.events = columns.giveBackEvents()
            if !queue.push(out) { break }
        }
        clients = columns.clients.count
        queue.close()
    }

    /// Waits for the stage's thread to end.
    func join() { thread?.join() }
}

/// A thread whose end can be waited for (Foundation's `Thread` has no join).
final class JoinableThread: @unchecked Sendable {
    // @unchecked: `done` is used only under `condition`'s lock.
    private let condition = NSCondition()
    private var done = false

    init(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            body()
            condition.lock()
            done = true
            condition.broadcast()
            condition.unlock()
        }
        thread.stackSize = 1 << 22
        thread.start()
    }

    func join() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
}

extension StreamingSimulation {
    /// Whether `state`'s prediction may run pipelined (see the rule above).
    static func pipelines(_ state: StreamState, writesRows: Bool) -> Bool {
        state.dense != nil && !writesRows && !state.trustProxy && ProcessInfo.processInfo.activeProcessorCount >= 2
    }

    /// Predicts the chunks of `reader` with the limiter half on a thread of its own and the
    /// time-ordered half on this one; returns the number of clients.
    static func runPipelined(_ reader: ChunkReader, state: inout StreamState, facts: inout ProfileFacts) throws -> Int {
        var summary = state.summary
        let statuses = state.statuses
        let maxPayload = state.maxPayload
        var eventIndex = state.eventIndex
        let stage = LimiterStage(state: state, reader: reader)
        defer {
            stage.queue.stop()
            stage.join()
        }
        while let out = try stage.queue.pop() {
            summary.firstClient.append(contentsOf: out.newFirstClients)
            guard let events = out.events else { continue }
            let n = out.count
            for i in 0..<n {
                let status = StreamState.tally(&summary, facts: &facts, time: events.times[i], kind: events.kinds[i], key: out.keys[i],
                                               decision: LimiterDecision(rawValue: out.decisions[i]) ?? .allowed,
                                               bodyBytes: events.bodyBytes[i], maxPayload: maxPayload, windowCount: out.windowCounts[i])
                statuses?(status)
            }
            eventIndex += n
            if n > 0 {
                facts.events = eventIndex
                facts.duration = events.times[n - 1]
            }
            out.events = nil
            reader.recycle(events)
            stage.queue.giveBack(out)
        }
        stage.join()
        state = stage.state
        state.summary = summary
        state.eventIndex = eventIndex
        return stage.clients
    }
}
