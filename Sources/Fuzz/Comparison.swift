import Spec
import TargetFiles
import Wire

/// How much a difference matters, by the page.
public enum Grade: Int, Sendable, Comparable, CustomStringConvertible {
    /// The oracle was not certain of its answer (a limiter window edge); not graded.
    case info = 0
    /// Only behaviour the page does not promise differs.
    case deviation = 1
    /// A rule of the page is broken.
    case fail = 2

    public static func < (a: Grade, b: Grade) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["INFO", "DEVIATION", "FAIL"][rawValue] }
}

/// One way the target's answer differs from the oracle's.
public struct Difference: Sendable, Equatable {
    /// What differs: `status`, `header X-Frame-Options`, `X-Request-Id`, `error shape`,
    /// `detail`, `body keys`, `Location`, `no answer`.
    public var aspect: String
    public var expected: String
    public var actual: String
    public var grade: Grade
    public var rules: [String]
}

/// The documented `detail` texts and the rules that state them.
enum DocumentedDetails {
    static func rules(for detail: String) -> [String]? {
        switch detail {
        case "Missing webhook signature header.": return ["SIG-6", "SIG-10"]
        case "Invalid webhook signature.": return ["SIG-6", "SIG-12"]
        case "Too Many Requests": return ["RL-7"]
        case "Webhook is disabled.": return ["WH-4"]
        case "Unauthorized": return ["AUTH-3", "ERR-6"]
        default:
            return detail.hasPrefix("Payload exceeds maximum size of ") ? ["SIZE-4"] : nil
        }
    }
}

/// Compares the target's answer with the oracle's and grades each difference.
public enum Comparison {
    /// The rules an answer of `status` to this request speaks to (besides the class's own).
    static func statusRules(_ status: Int, request: FuzzRequest) -> [String] {
        let ingest = request.method == "POST" && request.target.contains("/webhooks/") && !request.target.hasPrefix("/api/v1/agent")
        switch status {
        case 202 where ingest: return ["WH-5"]
        case 403 where ingest: return ["SIG-6"]
        case 404 where ingest: return ["WH-2", "WH-3"]
        case 410: return ["WH-4"]
        case 413: return ["SIZE-3"]
        case 429: return ["RL-1", request.namespace == .agent ? "RL-2" : "RL-3", "RL-7"]
        case 401: return ["AUTH-3", "ERR-6"]
        case 422: return ["ERR-4"]
        case 307: return ["ERR-5"]
        default: return []
        }
    }

    public static func compare(request: FuzzRequest, expected: Outcome, actual: Outcome, config: DeclaredConfiguration) -> [Difference] {
        guard case .response(let want) = expected else {
            // The oracle itself did not answer: nothing to judge by.
            return [Difference(aspect: "oracle", expected: "an answer", actual: "\(expected)", grade: .info, rules: [])]
        }
        guard case .response(let got) = actual else {
            if case .failed(let why) = actual {
                return [Difference(aspect: "no answer", expected: "\(want.status)", actual: why, grade: .fail, rules: ["HDR-1", "ERR-1"])]
            }
            return []
        }
        var out: [Difference] = []
        func add(_ aspect: String, _ e: String, _ a: String, _ rules: [String]) {
            out.append(Difference(aspect: aspect, expected: e, actual: a, grade: rules.isEmpty ? .deviation : .fail, rules: rules))
        }
        let classRules = RequestClass.named(request.className)?.rules ?? []
        if want.status != got.status {
            var rules = statusRules(want.status, request: request) + statusRules(got.status, request: request)
            // An HTTP-layer refusal on one side only: framing is the service's choice unless
            // the class is about a documented check.
            if !rules.isEmpty || !(want.status == 400 || got.status == 400) { rules += classRules }
            add("status", "\(want.status)", "\(got.status)", unique(rules))
        }
        // Security headers: present or not, and the value, on every response (HDR-7).
        for h in DocumentedHeader.table {
            let e = want.headers[h.name], a = got.headers[h.name]
            let same: Bool
            switch (e, a) {
            case (nil, nil): same = true
            case (let x?, let y?): same = h.caseInsensitive ? x.lowercased() == y.lowercased() : x == y
            default: same = false
            }
            if !same {
                var rules = ["HDR-1", "HDR-7", h.rule]
                if config.environment[h.variable] != nil { rules += ["HDR-6", "HDR-8"] }
                add("header \(h.name)", e ?? "(absent)", a ?? "(absent)", rules)
            }
        }
        // X-Request-Id: the client's value echoed when the oracle echoes it; else any id.
        let sent = request.header("X-Request-Id")
        let wantID = want.headers["X-Request-Id"], gotID = got.headers["X-Request-Id"]
        if let gotID, !gotID.isEmpty {
            if let sent, wantID == sent, gotID != sent {
                add("X-Request-Id", "echo of \(sent)", gotID, ["ERR-2"])
            } else if let sent, wantID != sent, gotID == sent {
                add("X-Request-Id", "a generated id (the supplied one is not echoed)", gotID, [])
            }
        } else {
            add("X-Request-Id", wantID == sent && sent != nil ? "echo of \(sent!)" : "an id", "(absent)", ["ERR-2"])
        }
        let wantBody = try? JSONValue.parse(want.body), gotBody = try? JSONValue.parse(got.body)
        if want.status >= 400, let wantDetail = wantBody?["detail"] {
            // The error shape.
            if let gotBody, case .object = gotBody.kind, let gotDetail = gotBody["detail"] {
                let rid = gotBody["request_id"]?.stringValue
                if rid == nil {
                    add("error shape", "{detail, request_id}", "no request_id", ["ERR-1"])
                } else if rid != gotID {
                    add("error shape", "request_id equal to X-Request-Id", "\(rid!) vs \(gotID ?? "(absent)")", ["ERR-1", "ERR-2"])
                }
                switch (wantDetail.stringValue, gotDetail.stringValue) {
                case (let e?, let a?) where e != a:
                    add("detail", e, a, want.status == got.status ? (DocumentedDetails.rules(for: e) ?? []) : [])
                case (_?, nil):
                    add("detail", "a string", gotDetail.typeName, DocumentedDetails.rules(for: wantDetail.stringValue ?? "") ?? [])
                case (nil, _?):
                    add("detail", "a list (validation problems)", "a string", want.status == got.status ? ["ERR-4"] : [])
                default: break
                }
            } else {
                add("error shape", "{detail, request_id}", String(decoding: got.body.prefix(120), as: UTF8.self), ["ERR-1"])
            }
        }
        if (200...299).contains(want.status), want.status == got.status, let wantKeys = wantBody?.objectValue?.map(\.key) {
            let gotKeys = gotBody?.objectValue?.map(\.key) ?? []
            if Set(wantKeys) != Set(gotKeys) {
                var rules: [String] = []
                if want.status == 202 { rules = ["WH-5"] }
                if request.target.hasPrefix("/api/v1/agent/healthz") { rules = ["AUTH-1"] }
                if request.target.hasPrefix("/api/v1/gateways") { rules = ["GWTOK-4", "GWTOK-5"] }
                add("body keys", wantKeys.sorted().joined(separator: ","), gotKeys.sorted().joined(separator: ","), rules)
            }
        }
        if want.status == 307, got.status == 307, want.headers["Location"] != got.headers["Location"] {
            add("Location", want.headers["Location"] ?? "(absent)", got.headers["Location"] ?? "(absent)", ["ERR-5"])
        }
        return out
    }

    static func unique(_ rules: [String]) -> [String] {
        var seen = Set<String>()
        return rules.filter { seen.insert($0).inserted }
    }
}
