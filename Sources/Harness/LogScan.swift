import Foundation
import Wire

/// After a run against a live server whose log mcsec can read (`logs` in the target file):
/// every line written during the run is searched for the whole of any token, secret or
/// signature the run knew or sent. One found is a failure quoting the line, the secret masked.
extension Runner {
    public static let logScanID = "logs.no-secrets"

    /// Remembers the credentials and signatures a request carries; returns them.
    @discardableResult
    func noteSecrets(_ outgoing: OutgoingRequest) -> [String] {
        var found: [String] = []
        defer { sentSecrets.formUnion(found) }
        for field in outgoing.request.headers {
            let name = field.name.lowercased()
            guard name == "authorization" || name.contains("token") || name.contains("signature") else { continue }
            let value = name == "authorization" ? (RequestBudget.bearerToken(outgoing.request.headers) ?? field.value) : String(field.value.trimmingASCIIWhitespace())
            // Short values (an empty signature, a 2-digit test value) would match anything.
            if value.count >= 12 { found.append(value) }
        }
        return found
    }

    /// The secrets to look for: the target file's and what was sent.
    var knownSecrets: [(what: String, value: String)] {
        var out: [(String, String)] = []
        let file = target.targetFile
        for (k, v) in file.agentTokens.sorted(by: { $0.key < $1.key }) { out.append(("agents.\(k).token", v)) }
        for (k, v) in file.userTokens.sorted(by: { $0.key < $1.key }) { out.append(("users.\(k).token", v)) }
        for (k, w) in file.webhooks.sorted(by: { $0.key < $1.key }) { if let s = w.secret { out.append(("webhooks.\(k).secret", s)) } }
        let named = Set(out.map(\.1))
        for v in sentSecrets.sorted() where !named.contains(v) && !named.contains(where: { v.hasSuffix($0) }) {
            out.append(("a credential or signature the run sent", v))
        }
        return out
    }

    func logScanResult(_ lines: [String]) -> FixtureResult {
        var findings: [Finding] = []
        for (what, secret) in knownSecrets {
            guard let line = lines.first(where: { $0.contains(secret) }) else { continue }
            let masked = CheckEvaluator.mask(secret)
            findings.append(Finding(rules: ["LOG-2"], level: suite.level(of: ["LOG-2"]),
                                    expected: "no log line with the whole of \(what) (\(masked))",
                                    actual: "logged: " + CheckEvaluator.short(line.replacingOccurrences(of: secret, with: masked), 300)))
            if findings.count >= 10 { break }
        }
        let rules = ["LOG-2"].filter { suite.catalog[$0] != nil }
        return FixtureResult(id: Runner.logScanID,
                             title: "No whole token, secret or signature in the \(lines.count) log lines written during the run",
                             rules: rules, section: "LOG", verdict: findings.isEmpty ? .pass : .fail, findings: findings, requests: 0)
    }
}
