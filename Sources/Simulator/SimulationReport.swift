import Foundation
import Wire

// Reports of a simulation: a text summary for people, a JSON summary for programs, CSV tables
// (every event's predicted status; per client; per window) and the SVG charts. All output is
// deterministic: the same profile and deployments give byte-identical files.

/// Writes the reports of one or more scenarios over one profile.
public struct SimulationReport {
    public let profileName: String
    public let facts: ProfileFacts
    /// The profile and every event's prediction, when held in memory; a streamed report wrote
    /// its predictions.csv while it ran.
    public let profile: Profile?
    public let predictions: [Prediction]
    public let summaries: [SimulationSummary]

    public init(profileName: String, profile: Profile, predictions: [Prediction]) {
        self.profileName = profileName
        self.profile = profile
        facts = ProfileFacts(profile)
        self.predictions = predictions
        summaries = predictions.map { SimulationSummary(profile: profile, prediction: $0) }
    }

    /// The report of a streamed prediction (`StreamingSimulation`).
    public init(profileName: String, facts: ProfileFacts, summaries: [SimulationSummary]) {
        self.profileName = profileName
        self.facts = facts
        profile = nil
        predictions = []
        self.summaries = summaries
    }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    var endpointCounts: [Int] { facts.endpointEvents }

    public var profileLine: String {
        let counts = endpointCounts
        return "profile \(profileName): \(SimulationReport.grouped(facts.events)) events over \(String(format: "%.1f", facts.duration)) s from \(SimulationReport.grouped(facts.clients)) client address\(facts.clients == 1 ? "" : "es") (webhook \(SimulationReport.grouped(counts[0])), agent_auth \(SimulationReport.grouped(counts[1])))"
    }

    /// The text summary.
    public func text(topClients: Int = 10) -> String {
        var out = profileLine + "\n"
        for (index, s) in summaries.enumerated() {
            out += "\nscenario \(index + 1): \(s.deployment.displayName)\n"
            if s.deployment.name != nil { out += "  deployment: \(s.deployment.label)\n" }
            for ns in 0..<2 where s.totals[ns].events > 0 {
                let t = s.totals[ns]
                var line = "  \(s.namespaces[ns]) (limit \(s.limits[ns]) per \(DurationText.format(s.windows[ns]))): \(SimulationReport.grouped(t.events)) requests, \(SimulationReport.grouped(t.admitted)) admitted, \(SimulationReport.grouped(t.refused)) refused"
                if t.failOpen > 0 { line += " (\(SimulationReport.grouped(t.failOpen)) admitted while Redis was unreachable)" }
                line += "; statuses " + t.statuses.map { "\($0.status)×\(SimulationReport.grouped($0.count))" }.joined(separator: " ")
                out += line + "\n"
            }
            for line in s.effectiveAdmissionLines() {
                out += "  " + line.replacingOccurrences(of: "\(s.deployment.displayName): ", with: "") + "\n"
            }
            for ns in 0..<2 where s.totals[ns].events > 0 {
                let rows = s.clients.filter { $0[ns].events > 0 }
                    .sorted { (a: SimulationSummary.ClientRow, b: SimulationSummary.ClientRow) -> Bool in
                        a[ns].maxPerWindow != b[ns].maxPerWindow ? a[ns].maxPerWindow > b[ns].maxPerWindow : a.key < b.key
                    }
                    .prefix(topClients)
                out += "  busiest clients, \(s.namespaces[ns]):\n"
                out += "    " + "client".padding(toLength: 40, withPad: " ", startingAt: 0) + "   requests   admitted    refused  most per \(DurationText.format(s.windows[ns]))\n"
                for row in rows {
                    let c = row[ns]
                    out += "    " + row.key.padding(toLength: 40, withPad: " ", startingAt: 0)
                        + String(format: " %10d %10d %10d %10d", c.events, c.admitted, c.refused, c.maxPerWindow) + "\n"
                }
            }
        }
        return out
    }

    // MARK: JSON

    func deploymentJSON(_ d: Deployment) -> String {
        var fields: [String] = [
            "\"workers\":\(d.workers)", "\"routing\":\(JSONText.quote(d.routing.rawValue))",
            "\"backend\":\(JSONText.quote(d.backend.rawValue))",
            "\"outages\":[" + d.outages.map { "{\"start\":\(JSONOutput.number($0.start)),\"end\":\(JSONOutput.number($0.end))}" }.joined(separator: ",") + "]",
            "\"skews\":[" + d.skews.map { JSONOutput.number($0) }.joined(separator: ",") + "]",
            "\"trust_proxy_headers\":\(d.trustProxyHeaders)", "\"seed\":\(d.seed)", "\"max_payload_bytes\":\(d.maxPayloadBytes)",
        ]
        fields.insert("\"label\":\(JSONText.quote(d.label))", at: 0)
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The JSON summary (clients limited to the `topClients` busiest per scenario; the CSV
    /// tables hold them all).
    public func json(topClients: Int = 100) -> String {
        var out = "{\n"
        let counts = endpointCounts
        out += "  \"profile\": {\"name\":\(JSONText.quote(profileName)),\"events\":\(facts.events),\"duration\":\(JSONOutput.number(facts.duration)),\"clients\":\(facts.clients),\"webhook_events\":\(counts[0]),\"agent_auth_events\":\(counts[1])},\n"
        out += "  \"scenarios\": [\n"
        for (index, s) in summaries.enumerated() {
            out += "    {\n"
            out += "      \"name\": \(JSONText.quote(s.deployment.displayName)),\n"
            out += "      \"deployment\": \(deploymentJSON(s.deployment)),\n"
            out += "      \"namespaces\": ["
            var nsItems: [String] = []
            for ns in 0..<2 {
                let t = s.totals[ns]
                let statuses = t.statuses.map { "\"\($0.status)\":\($0.count)" }.joined(separator: ",")
                var item = "{\"namespace\":\(JSONText.quote(s.namespaces[ns])),\"limit\":\(s.limits[ns]),\"window\":\(JSONOutput.number(s.windows[ns])),"
                item += "\"requests\":\(t.events),\"admitted\":\(t.admitted),\"allowed\":\(t.allowed),\"refused\":\(t.refused),\"failed_open\":\(t.failOpen),\"statuses\":{\(statuses)},"
                if let b = s.busiest[ns] {
                    item += "\"busiest_client\":{\"key\":\(JSONText.quote(b.key)),\"most_admitted_per_window\":\(b.admitted),\"times_the_limit\":\(JSONOutput.number(s.effectiveAdmission(namespace: ns) ?? 0, decimals: 3))}"
                } else {
                    item += "\"busiest_client\":null"
                }
                nsItems.append(item + "}")
            }
            out += nsItems.joined(separator: ",") + "],\n"
            out += "      \"effective_admission\": [" + s.effectiveAdmissionLines().map(JSONText.quote).joined(separator: ",") + "],\n"
            out += "      \"clients_total\": \(s.clients.count),\n"
            out += "      \"clients\": [\n"
            let rows = s.clients.prefix(topClients).map { row -> String in
                "        {\"key\":\(JSONText.quote(row.key)),\"webhook_ingest\":\(countsJSON(row.webhook)),\"agent_auth\":\(countsJSON(row.agentAuth))}"
            }
            out += rows.joined(separator: ",\n") + "\n      ],\n"
            out += "      \"windows\": [\n"
            let windows = s.windowRows.map { w -> String in
                "        {\"namespace\":\(JSONText.quote(s.namespaces[w.namespace])),\"start\":\(JSONOutput.number(w.start)),\"requests\":\(w.events),\"admitted\":\(w.admitted),\"refused\":\(w.refused),\"failed_open\":\(w.failOpen),\"busiest_client\":\(JSONText.quote(w.busiestKey)),\"busiest_admitted\":\(w.busiestAdmitted)}"
            }
            out += windows.joined(separator: ",\n") + "\n      ]\n"
            out += "    }" + (index == summaries.count - 1 ? "\n" : ",\n")
        }
        out += "  ]\n}\n"
        return out
    }

    func countsJSON(_ c: SimulationSummary.Counts) -> String {
        "{\"requests\":\(c.events),\"admitted\":\(c.admitted),\"refused\":\(c.refused),\"most_admitted_per_window\":\(c.maxPerWindow)}"
    }

    // MARK: CSV

    public static let predictionColumns = "scenario,index,t,client,key,endpoint,signature,body_bytes,worker,limiter,status"

    /// Every event's predicted status, for every scenario (a report held in memory; a streamed
    /// one has nothing to write here).
    public func writePredictionsCSV(to sink: ByteSink) throws(FileError) {
        try sink.write(SimulationReport.predictionColumns + "\n")
        guard let profile else { return try sink.flush() }
        for (s, prediction) in predictions.enumerated() {
            let scenario = Array(String(s + 1).utf8)
            let clientText = profile.clients.map { Array(CSVLine.quoted($0).utf8) }
            let keyText = prediction.keys.map { Array(CSVLine.quoted($0).utf8) }
            for i in 0..<profile.count {
                try sink.withBuffer { out in
                    SimulationReport.appendPredictionRow(scenario: scenario, index: i, time: profile.times[i], client: clientText[Int(profile.clientIDs[i])],
                                                         key: keyText[Int(prediction.keyIDs[i])], endpoint: profile.endpoint(at: i),
                                                         signature: profile.signature(at: i), bodyBytes: profile.bodyBytes[i],
                                                         worker: Int(prediction.workers[i]), decision: prediction.decision(at: i),
                                                         status: Int(prediction.statuses[i]), to: &out)
                }
            }
        }
        try sink.flush()
    }

    /// One predictions.csv row; `client` and `key` are already CSV-quoted.
    @inline(__always)
    static func appendPredictionRow(scenario: [UInt8], index: Int, time: Double, client: [UInt8], key: [UInt8], endpoint: Endpoint,
                                    signature: SignatureMode, bodyBytes: Int32, worker: Int, decision: LimiterDecision, status: Int,
                                    to out: inout [UInt8]) {
        out.append(contentsOf: scenario)
        out.append(44)
        ProfileRules.appendInteger(Int64(index), to: &out)
        out.append(44)
        ProfileRules.appendTime(time, to: &out)
        out.append(44)
        out.append(contentsOf: client)
        out.append(44)
        out.append(contentsOf: key)
        out.append(44)
        out.append(contentsOf: endpoint.name.utf8)
        out.append(44)
        out.append(contentsOf: signature.name.utf8)
        out.append(44)
        ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
        out.append(44)
        ProfileRules.appendInteger(Int64(worker), to: &out)
        out.append(44)
        out.append(contentsOf: decision.name.utf8)
        out.append(44)
        ProfileRules.appendInteger(Int64(status), to: &out)
        out.append(10)
    }

    /// Per-client figures for every scenario and namespace.
    public func writeClientsCSV(to sink: ByteSink) throws(FileError) {
        try sink.write("scenario,namespace,client,requests,admitted,refused,most_admitted_per_window,limit\n")
        for (s, summary) in summaries.enumerated() {
            for ns in 0..<2 where summary.totals[ns].events > 0 {
                for row in summary.clients where row[ns].events > 0 {
                    let c = row[ns]
                    try sink.write("\(s + 1),\(summary.namespaces[ns]),\(CSVLine.quoted(row.key)),\(c.events),\(c.admitted),\(c.refused),\(c.maxPerWindow),\(summary.limits[ns])\n")
                }
            }
        }
        try sink.flush()
    }

    /// Per-window figures for every scenario and namespace.
    public func writeWindowsCSV(to sink: ByteSink) throws(FileError) {
        try sink.write("scenario,namespace,window_start,window_seconds,requests,admitted,refused,failed_open,busiest_client,busiest_admitted,limit\n")
        for (s, summary) in summaries.enumerated() {
            for w in summary.windowRows {
                try sink.write("\(s + 1),\(summary.namespaces[w.namespace]),\(JSONOutput.number(w.start)),\(JSONOutput.number(summary.windows[w.namespace])),\(w.events),\(w.admitted),\(w.refused),\(w.failOpen),\(CSVLine.quoted(w.busiestKey)),\(w.busiestAdmitted),\(summary.limits[w.namespace])\n")
            }
        }
        try sink.flush()
    }

    /// Writes every report into `directory` (created if needed); returns the paths written.
    public func writeAll(to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func write(_ name: String, _ body: (ByteSink) throws -> Void) throws {
            let sink = try ByteSink(path: path(name))
            try body(sink)
            try sink.close()
            written.append(path(name))
        }
        try write("summary.txt") { try $0.write(text()) }
        try write("summary.json") { try $0.write(json()) }
        if profile != nil { try write("predictions.csv") { try writePredictionsCSV(to: $0) } }
        try write("clients.csv") { try writeClientsCSV(to: $0) }
        try write("windows.csv") { try writeWindowsCSV(to: $0) }
        try write("timeline.svg") { try $0.write(SVGCharts.timeline(summaries)) }
        try write("clients.svg") { try $0.write(SVGCharts.clients(summaries)) }
        return written
    }
}
