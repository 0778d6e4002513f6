import Foundation

// Rule: a run is compared with the prediction event by event: the status the server answered
// against the status the reference predicts for the declared deployment at the times the
// requests were actually sent. Any difference is a divergence, listed with the event (index,
// time, client, endpoint, signature) and both statuses. Events that got no answer (a transport
// error) are counted apart: they say nothing about the limiter.

/// The outcome of one event in a run.
public struct ObservedStatus: Sendable, Equatable {
    /// Event index in the profile.
    public var index: Int
    /// Seconds from the start of the run when the request was sent.
    public var sentAt: Double
    /// The HTTP status, or nil when the request failed without an answer.
    public var status: Int?
    /// Why there was no answer.
    public var error: String?

    public init(index: Int, sentAt: Double, status: Int?, error: String? = nil) {
        self.index = index
        self.sentAt = sentAt
        self.status = status
        self.error = error
    }
}

/// Observed statuses compared with a prediction.
public struct StatusComparison: Sendable {
    public struct Divergence: Sendable, Equatable {
        public var index: Int
        public var scheduled: Double
        public var sentAt: Double
        public var client: String
        public var endpoint: Endpoint
        public var signature: SignatureMode
        public var expected: Int
        public var actual: Int
    }

    public var deployment: Deployment
    /// Events with an answer, compared.
    public var compared = 0
    public var matched = 0
    public var divergences: [Divergence] = []
    /// Events whose request failed without an answer.
    public var failures: [(index: Int, error: String)] = []
    /// Events of the profile with no observation at all.
    public var notSent = 0
    /// The prediction at actual send times, per profile event (nil for events without an answer).
    public var expected: [Int?]
    public var actual: [Int?]

    /// Re-predicts `profile` at the observed send times and compares. Send times are taken
    /// relative to `origin` (nil: the earliest send), which is where profile time 0 (and so any
    /// outage window) is placed.
    public init(profile: Profile, observations: [ObservedStatus], deployment: Deployment, origin: Double? = nil) {
        self.deployment = deployment
        expected = [Int?](repeating: nil, count: profile.count)
        actual = [Int?](repeating: nil, count: profile.count)
        var answered = observations.filter { $0.status != nil && $0.index >= 0 && $0.index < profile.count }
        for o in observations where o.status == nil && o.index >= 0 && o.index < profile.count {
            failures.append((o.index, o.error ?? "no answer"))
        }
        // Keep one observation per event (the first), then order by send time (stable).
        var seen = Set<Int>()
        answered = answered.filter { seen.insert($0.index).inserted }
        notSent = profile.count - seen.union(failures.map(\.index)).count
        let order = answered.enumerated().sorted { $0.element.sentAt != $1.element.sentAt ? $0.element.sentAt < $1.element.sentAt : $0.offset < $1.offset }.map(\.element)
        let start = origin ?? order.first?.sentAt ?? 0
        var times: [Double] = []
        var last = 0.0
        for o in order {
            let t = max(last, ProfileRules.quantize(max(0, o.sentAt - start)))
            times.append(t)
            last = t
        }
        let retimed = profile.reordered(order.map(\.index), times: times)
        let prediction = Simulation.predict(retimed, deployment: deployment)
        for (k, o) in order.enumerated() {
            let predicted = Int(prediction.statuses[k])
            expected[o.index] = predicted
            actual[o.index] = o.status
            compared += 1
            if predicted == o.status {
                matched += 1
            } else if let status = o.status {
                divergences.append(Divergence(index: o.index, scheduled: profile.times[o.index], sentAt: o.sentAt,
                                              client: profile.clients[Int(profile.clientIDs[o.index])],
                                              endpoint: profile.endpoint(at: o.index), signature: profile.signature(at: o.index),
                                              expected: predicted, actual: status))
            }
        }
        divergences.sort { $0.index < $1.index }
    }

    /// A text report (the first `limit` divergences listed).
    public func text(limit: Int = 20) -> String {
        StatusComparison.text(deployment: deployment, compared: compared, matched: matched, divergences: divergences,
                              divergenceCount: divergences.count, failures: failures, failureCount: failures.count,
                              notSent: notSent, limit: limit)
    }

    /// The text report of a comparison: counts, the first `limit` of `divergences` (of
    /// `divergenceCount`) and the first five of `failures` (of `failureCount`).
    static func text(deployment: Deployment, compared: Int, matched: Int, divergences: [Divergence], divergenceCount: Int,
                     failures: [(index: Int, error: String)], failureCount: Int, notSent: Int, limit: Int) -> String {
        var out = "compared \(compared) events with the prediction for \(deployment.displayName): \(matched) as predicted, \(divergenceCount) divergence\(divergenceCount == 1 ? "" : "s")"
        if failureCount > 0 { out += ", \(failureCount) without an answer" }
        if notSent > 0 { out += ", \(notSent) not sent" }
        out += "\n"
        if divergenceCount > 0 {
            out += "  event      sent at (s)  client                                   endpoint    signature  expected  actual\n"
            for d in divergences.prefix(limit) {
                out += String(format: "  %-10d %11.6f  ", d.index, d.sentAt) + d.client.padding(toLength: 40, withPad: " ", startingAt: 0)
                    + " " + d.endpoint.name.padding(toLength: 11, withPad: " ", startingAt: 0) + " " + d.signature.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(format: " %8d %7d", d.expected, d.actual) + "\n"
            }
            if divergenceCount > limit { out += "  … \(divergenceCount - limit) more (see the CSV)\n" }
        }
        for f in failures.prefix(5) { out += "  event \(f.index): no answer: \(f.error)\n" }
        if failureCount > 5 { out += "  … \(failureCount - 5) more without an answer\n" }
        return out
    }

    /// Every event: `index,t,client,endpoint,signature,expected,actual,match`.
    public func writeCSV(_ profile: Profile, observations: [ObservedStatus], to sink: ByteSink) throws(FileError) {
        var sent = [Double?](repeating: nil, count: profile.count)
        for o in observations where o.index >= 0 && o.index < profile.count && sent[o.index] == nil { sent[o.index] = o.sentAt }
        try sink.write("index,t,sent_at,client,endpoint,signature,expected,actual,match\n")
        for i in 0..<profile.count {
            let e = expected[i].map(String.init) ?? "", a = actual[i].map(String.init) ?? ""
            let match = expected[i] == nil ? "" : (expected[i] == actual[i] ? "yes" : "no")
            let sentText = sent[i].map { String(format: "%.6f", $0) } ?? ""
            try sink.write("\(i),\(ProfileRules.formatTime(profile.times[i])),\(sentText),\(CSVLine.quoted(profile.clients[Int(profile.clientIDs[i])])),\(profile.endpoint(at: i).name),\(profile.signature(at: i).name),\(e),\(a),\(match)\n")
        }
        try sink.flush()
    }
}
