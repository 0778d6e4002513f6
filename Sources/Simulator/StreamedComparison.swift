import Foundation
import Wire

// Rule: a streamed replay is compared with the prediction as `StatusComparison` compares one
// in memory: the answered events in the order they were sent (ties by event number), each at
// its send time from the replay's start, quantized and never before the previous one, predicted
// for the deployment and compared status for status. The prediction streams (`StreamingSimulation`)
// over the spool's merged outcomes while a second merge of the same outcomes walks beside it,
// so that memory holds no per-event state. Every outcome is written to replay.csv, in send
// order; events never sent are counted, not listed.

/// The answered outcomes of a spool in send order, as events retimed to their send times.
final class SpoolEvents: EventSource {
    let spool: ReplaySpool
    /// The clients and proxy headers the outcomes' ids refer to (no events).
    let tables: Profile
    private var merge: SpoolMerge?
    private var started = false
    private var last = 0.0
    var chunkSize = 1 << 16

    init(spool: ReplaySpool, tables: Profile) {
        self.spool = spool
        self.tables = tables
    }

    func restart() throws {
        merge = try spool.merged()
        started = false
        last = 0
    }

    func next(into chunk: inout Profile) throws -> Bool {
        if merge == nil { try restart() }
        if !started {
            chunk = tables  // no events: the clients and proxy headers, ids and all
            started = true
        }
        chunk.removeAllEvents()
        while chunk.count < chunkSize, let r = try merge!.next() {
            guard r.status >= 0 else { continue }
            let t = max(last, ProfileRules.quantize(max(0, r.sentAt)))
            last = t
            chunk.appendRaw(time: t, clientID: r.clientID, kind: r.kind, bodyBytes: r.bodyBytes, proxyID: r.proxyID)
        }
        return !chunk.isEmpty
    }
}

/// replay.csv: one row per event sent.
public enum ReplayCSV {
    public static let header = "index,t,sent_at,lateness_ms,client,source,endpoint,signature,expected,actual,match,error\n"

    /// `sentAt` and `lateness` nil for an event not sent; `expected` nil when not compared.
    public static func row(index: Int, scheduled: Double, sentAt: Double?, lateness: Double?, client: String, source: String,
                           kind: UInt8, expected: Int?, actual: Int?, error: String?) -> String {
        let match = expected == nil ? "" : (expected == actual ? "yes" : "no")
        let fields: [String] = [String(index), ProfileRules.formatTime(scheduled), sentAt.map { String(format: "%.6f", $0) } ?? "",
                                lateness.map { String(format: "%.3f", $0 * 1000) } ?? "", CSVText.field(client), source,
                                Profile.endpoint(kind: kind).name, Profile.signature(kind: kind).name,
                                expected.map(String.init) ?? "", actual.map(String.init) ?? "", match, CSVText.field(error ?? "")]
        return fields.joined(separator: ",") + "\n"
    }
}

/// A streamed replay's outcomes compared with the prediction.
public struct StreamedComparison: Sendable {
    public var deployment: Deployment
    /// Outcomes on disk: events sent.
    public var sent = 0
    public var compared = 0
    public var matched = 0
    public var divergenceCount = 0
    /// The divergences with the lowest event numbers (at most `keep`), in event order.
    public var divergences: [StatusComparison.Divergence] = []
    public var failureCount = 0
    /// The first failures, in send order.
    public var failures: [(index: Int, error: String)] = []
    public var notSent = 0

    /// Compares the outcomes in `spool` with the prediction for `deployment`.
    /// - Parameters:
    ///   - tables: the profile as sent, without events: the clients and proxy headers the
    ///     outcomes' ids refer to.
    ///   - originalClients: the clients' addresses in the profile file (for replay.csv).
    ///   - sources: each client's source address ("" or empty for none).
    ///   - events: the events in the profile (those not sent are counted).
    ///   - csv: replay.csv's rows (with the header) go here, in send order.
    public static func compare(spool: ReplaySpool, tables: Profile, originalClients: [String], sources: [String], events: Int,
                               deployment: Deployment, csv: ByteSink? = nil, keep: Int = 20) throws -> StreamedComparison {
        var source = SpoolEvents(spool: spool, tables: tables)
        let walk = try OutcomeWalk(spool: spool, tables: tables, originalClients: originalClients, sources: sources,
                                   deployment: deployment, csv: csv, keep: keep)
        try csv?.write(ReplayCSV.header)
        _ = try StreamingSimulation.run(&source, deployment: deployment, statuses: { walk.predicted($0) })
        try walk.drain()
        var result = walk.result
        result.notSent = events - result.sent
        result.divergences.sort { $0.index < $1.index }
        result.divergences = Array(result.divergences.prefix(keep))
        try csv?.flush()
        return result
    }

    public func text(limit: Int = 20) -> String {
        StatusComparison.text(deployment: deployment, compared: compared, matched: matched, divergences: divergences,
                              divergenceCount: divergenceCount, failures: failures, failureCount: failureCount, notSent: notSent,
                              limit: limit)
    }
}

/// Walks the outcomes in send order beside the prediction: each predicted status is the next
/// answered outcome's.
private final class OutcomeWalk {
    let spool: ReplaySpool
    let tables: Profile
    let originalClients: [String]
    let sources: [String]
    let csv: ByteSink?
    let keep: Int
    var merge: SpoolMerge
    var result: StreamedComparison
    var failure: (any Error)?

    init(spool: ReplaySpool, tables: Profile, originalClients: [String], sources: [String], deployment: Deployment,
         csv: ByteSink?, keep: Int) throws {
        self.spool = spool
        self.tables = tables
        self.originalClients = originalClients
        self.sources = sources
        self.csv = csv
        self.keep = keep
        merge = try spool.merged()
        result = StreamedComparison(deployment: deployment)
    }

    /// The prediction for the next answered outcome.
    func predicted(_ status: Int) {
        guard failure == nil else { return }
        do {
            while let r = try merge.next() {
                result.sent += 1
                if r.status < 0 {
                    try unanswered(r)
                    continue
                }
                try answered(r, expected: status)
                return
            }
            // More predictions than answered outcomes cannot happen: both walk the same runs.
            failure = FileError(path: spool.directory, reason: "the replay's outcomes ended before the prediction did")
        } catch {
            failure = error
        }
    }

    /// After the prediction: the unanswered outcomes sent last.
    func drain() throws {
        if let failure { throw failure }
        while let r = try merge.next() {
            result.sent += 1
            guard r.status < 0 else {
                throw FileError(path: spool.directory, reason: "an answered outcome was left without a prediction")
            }
            try unanswered(r)
        }
    }

    private func unanswered(_ r: SpoolRecord) throws {
        let error = spool.errorText(r.error)
        result.failureCount += 1
        if result.failures.count < 5 { result.failures.append((Int(r.index), error)) }
        try row(r, expected: nil, error: error)
    }

    private func answered(_ r: SpoolRecord, expected: Int) throws {
        let actual = Int(r.status)
        result.compared += 1
        if actual == expected {
            result.matched += 1
        } else {
            result.divergenceCount += 1
            result.divergences.append(StatusComparison.Divergence(
                index: Int(r.index), scheduled: r.scheduled, sentAt: r.sentAt, client: tables.clients[Int(r.clientID)],
                endpoint: Profile.endpoint(kind: r.kind), signature: Profile.signature(kind: r.kind), expected: expected, actual: actual))
            // The lowest event numbers are kept: trimmed now and then, not per divergence.
            if result.divergences.count >= 2 * keep + 64 {
                result.divergences.sort { $0.index < $1.index }
                result.divergences.removeLast(result.divergences.count - keep)
            }
        }
        try row(r, expected: expected, error: nil)
    }

    private func row(_ r: SpoolRecord, expected: Int?, error: String?) throws {
        guard let csv else { return }
        let client = Int(r.clientID)
        try csv.write(ReplayCSV.row(index: Int(r.index), scheduled: r.scheduled, sentAt: r.sentAt, lateness: r.sentAt - r.scheduled,
                                    client: client < originalClients.count ? originalClients[client] : tables.clients[client],
                                    source: client < sources.count ? sources[client] : "", kind: r.kind,
                                    expected: expected, actual: r.status >= 0 ? Int(r.status) : nil, error: error))
    }
}
