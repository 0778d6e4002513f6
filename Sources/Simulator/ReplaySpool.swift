#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Wire

// Rule: a streamed replay keeps each sent event's outcome on disk, not in memory, and compares
// them with the prediction in the order the requests were sent: each sending thread writes its
// outcomes in runs, each run sorted by send time (then event number) in a buffer of bounded
// size, and a merge of the runs gives every outcome in that order, as the in-memory comparison
// orders its observations. Memory holds one run's buffer per thread and one block per run while
// merging, whatever the number of events.

/// One sent event's outcome as a streamed replay keeps it (48 bytes on disk).
struct SpoolRecord: Equatable {
    var index: Int64
    /// Seconds from the replay's start when the request was sent.
    var sentAt: Double
    /// The event's time in the profile.
    var scheduled: Double
    /// Seconds from sending to the answer (NaN without one).
    var answerTime: Float
    /// The answer's status, -1 without one.
    var status: Int16
    /// The id of the reason there was no answer (`ReplaySpool.errorText`), -1 for none.
    var error: Int16
    var clientID: Int32
    var bodyBytes: Int32
    var proxyID: Int32
    var kind: UInt8

    /// Send order, as the comparison takes the outcomes (ties by event number).
    @inline(__always)
    static func precedes(_ a: SpoolRecord, _ b: SpoolRecord) -> Bool {
        a.sentAt != b.sentAt ? a.sentAt < b.sentAt : a.index < b.index
    }
}

/// The outcomes of a streamed replay, in sorted runs in a directory of their own.
public final class ReplaySpool: Sendable {
    public let directory: String
    private struct State {
        var runs: [(path: String, count: Int)] = []
        /// Runs named so far (a run is listed once written).
        var named = 0
        var errorTexts: [String] = []
        var errorIDs: [String: Int16] = [:]
    }
    private let state = Mutex(State())
    /// Outcomes per run at most, per sending thread.
    let runSize: Int

    /// Makes a new directory inside `parent` (the system's temporary directory by default).
    public init(parent: String? = nil, runSize: Int = 1 << 18) throws(FileError) {
        let base = parent ?? NSTemporaryDirectory()
        var template = Array(((base as NSString).appendingPathComponent("mcsec-replay-XXXXXX")).utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw FileError(path: base, reason: "cannot make a directory for the replay's outcomes: \(String(cString: strerror(errno)))")
        }
        directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.runSize = max(1, runSize)
    }

    /// Removes the runs and the directory.
    public func remove() {
        // Every run named, written yet or not (a second Ctrl-C may come while one is written).
        let named = state.withLock { $0.named }
        for number in 0..<named { unlink((directory as NSString).appendingPathComponent("run-\(number).bin")) }
        rmdir(directory)
    }

    /// Outcomes written so far.
    public var count: Int { state.withLock { $0.runs.reduce(0) { $0 + $1.count } } }

    /// The id of a reason there was no answer (reasons are few: they are kept once each; past
    /// 32,767 distinct ones, the last id stands for all the rest).
    func errorID(_ text: String) -> Int16 {
        state.withLock { s in
            if let id = s.errorIDs[text] { return id }
            guard s.errorTexts.count < Int(Int16.max) else { return Int16.max - 1 }
            let id = Int16(s.errorTexts.count)
            s.errorTexts.append(text)
            s.errorIDs[text] = id
            return id
        }
    }

    func errorText(_ id: Int16) -> String {
        state.withLock { s in id >= 0 && Int(id) < s.errorTexts.count ? s.errorTexts[Int(id)] : "no answer" }
    }

    /// Sorts `records` and writes them as a new run.
    func writeRun(_ records: inout [SpoolRecord]) throws(FileError) {
        guard !records.isEmpty else { return }
        records.sort(by: SpoolRecord.precedes)
        let number = state.withLock { s in
            s.named += 1
            return s.named - 1
        }
        let path = (directory as NSString).appendingPathComponent("run-\(number).bin")
        let sink = try ByteSink(path: path)
        var failure: FileError?
        records.withUnsafeBytes { raw in
            do throws(FileError) { try sink.withBuffer { $0.append(contentsOf: raw) } } catch { failure = error }
        }
        if let failure { throw failure }
        try sink.close()
        let written = records.count
        state.withLock { $0.runs.append((path, written)) }
        records.removeAll(keepingCapacity: true)
    }

    /// Every outcome written, in send order.
    func merged() throws(FileError) -> SpoolMerge {
        try SpoolMerge(runs: state.withLock { $0.runs })
    }
}

/// One sending thread's outcomes, buffered into runs.
final class SpoolWriter {
    let spool: ReplaySpool
    private var buffer: [SpoolRecord] = []
    /// The first failure to write (the replay stops on it).
    private(set) var failure: FileError?

    init(_ spool: ReplaySpool) { self.spool = spool }

    func append(_ record: SpoolRecord) {
        guard failure == nil else { return }
        buffer.append(record)
        if buffer.count >= spool.runSize { flush() }
    }

    /// Writes what is buffered as a run.
    func flush() {
        guard failure == nil else { return }
        do { try spool.writeRun(&buffer) } catch { failure = error }
    }
}

/// The runs of a spool merged into one sequence in send order.
struct SpoolMerge {
    private final class Run {
        let fd: Int32
        let path: String
        var block = [SpoolRecord]()
        var position = 0
        var left: Int
        init(path: String, count: Int) throws(FileError) {
            self.path = path
            left = count
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(path: path, reason: "cannot read the replay's outcomes: \(String(cString: strerror(errno)))") }
        }
        deinit { Platform.close(fd) }

        /// The next record, reading a block when the last one is used up.
        func next() throws(FileError) -> SpoolRecord? {
            if position == block.count {
                guard left > 0 else { return nil }
                // 48 KiB a block: ten million outcomes are some 40 runs, each with a block here.
                let n = min(left, 1024)
                let stride = MemoryLayout<SpoolRecord>.stride
                block = [SpoolRecord](unsafeUninitializedCapacity: n) { buffer, initialized in
                    let raw = UnsafeMutableRawBufferPointer(buffer)
                    var got = 0
                    while got < n * stride {
                        let r = read(fd, raw.baseAddress! + got, n * stride - got)
                        if r <= 0 { break }
                        got += r
                    }
                    initialized = got / stride
                }
                guard block.count == n else { throw FileError(path: path, reason: "the replay's outcomes were cut short (the file changed while it was read)") }
                left -= n
                position = 0
            }
            position += 1
            return block[position - 1]
        }
    }

    private var runs: [Run] = []
    /// A binary heap of (head record, run), least in send order first.
    private var heap: [(SpoolRecord, Int)] = []

    init(runs list: [(path: String, count: Int)]) throws(FileError) {
        for r in list where r.count > 0 {
            let run = try Run(path: r.path, count: r.count)
            runs.append(run)
            if let first = try run.next() { push((first, runs.count - 1)) }
        }
    }

    mutating func next() throws(FileError) -> SpoolRecord? {
        guard let top = heap.first else { return nil }
        if let following = try runs[top.1].next() {
            heap[0] = (following, top.1)
            siftDown(0)
        } else {
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(0)
            }
        }
        return top.0
    }

    private mutating func push(_ item: (SpoolRecord, Int)) {
        heap.append(item)
        var k = heap.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            guard SpoolRecord.precedes(heap[k].0, heap[parent].0) else { break }
            heap.swapAt(k, parent)
            k = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var k = start
        while true {
            let l = 2 * k + 1, r = l + 1
            var least = k
            if l < heap.count && SpoolRecord.precedes(heap[l].0, heap[least].0) { least = l }
            if r < heap.count && SpoolRecord.precedes(heap[r].0, heap[least].0) { least = r }
            if least == k { return }
            heap.swapAt(k, least)
            k = least
        }
    }
}
