import Foundation
import Harness
import Reference
import Wire

/// The broken variants of the reference and what must catch them (`Fixtures/mutations.json`):
///
/// ```json
/// {"mutations": [{"name": "skip-signature-check", "breaks": ["SIG-6"],
///                 "caughtBy": [{"fixture": "sig.missing", "verdict": "fail"}, …]}]}
/// ```
///
/// `name` is a mutation of `ReferenceMutations`; `breaks` the rules it breaks; `caughtBy` every
/// fixture whose verdict changes against it, with the verdict it must get (`fail` or
/// `deviation`). Every other fixture must keep the verdict it has against the unmodified
/// reference, so a pinned list that is too short or too long is noticed.
public struct MutationCatalog: Sendable {
    /// A fixture that must catch a mutation, and how.
    public struct Catch: Sendable, Equatable, CustomStringConvertible {
        public var fixture: String
        /// `.fail` or `.deviation`.
        public var verdict: Verdict

        public init(fixture: String, verdict: Verdict) {
            self.fixture = fixture
            self.verdict = verdict
        }

        public var description: String { "\(fixture) \(verdict.label)" }
    }

    /// One broken variant.
    public struct Entry: Sendable {
        public var name: String
        public var mutation: ReferenceMutations
        public var breaks: [String]
        public var caughtBy: [Catch]
        /// Where the fixtures see the fault: nil in-process; `redis-fault` only against a
        /// server on the redis backend whose Redis is stalled (`--inject-faults`), so
        /// in-process nothing may change.
        public var observedOn: String? = nil
    }

    /// The file name inside the fixtures directory.
    public static let fileName = "mutations.json"

    public var mutations: [Entry]

    public init(mutations: [Entry]) { self.mutations = mutations }

    public subscript(name: String) -> Entry? { mutations.first { $0.name == name } }

    /// Rules some mutation breaks.
    public var provenRules: Set<String> { Set(mutations.flatMap(\.breaks)) }

    /// Loads `mutations.json` from a fixtures directory and checks it against the suite.
    public static func load(fixturesDirectory: URL, suite: Suite) throws -> MutationCatalog {
        let url = fixturesDirectory.appendingPathComponent(fileName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, message: "cannot read the mutation catalog: \(error.localizedDescription)")
        }
        return try decode(Array(data), file: url.path, suite: suite)
    }

    /// Decodes and validates a mutation catalog. With a suite, every rule must be in its
    /// catalog and not marked unprovable, and every fixture must exist.
    public static func decode(_ bytes: [UInt8], file: String, suite: Suite? = nil) throws -> MutationCatalog {
        let root = try JSONCursor.parse(bytes, file: file)
        try root.allowOnly(["mutations"])
        let fixtureIDs = suite.map { Set($0.fixtures.map(\.id)) }
        var entries: [Entry] = []
        for node in try root.required("mutations").nonEmptyArray() {
            try node.allowOnly(["name", "breaks", "caughtBy", "observedOn"])
            let observedOn = try node.optional("observedOn")?.oneOf(["redis-fault"])
            let nameNode = try node.required("name")
            let name = try nameNode.nonEmptyString()
            guard let mutation = ReferenceMutations(name: name) else {
                throw nameNode.error("\"\(name)\" is not a mutation of the reference; known: \(ReferenceMutations.named.map(\.name).joined(separator: ", "))")
            }
            if entries.contains(where: { $0.name == name }) { throw nameNode.error("mutation \"\(name)\" is listed twice") }

            var breaks: [String] = []
            for ruleNode in try node.required("breaks").nonEmptyArray() {
                let id = try ruleNode.nonEmptyString()
                guard let dash = id.lastIndex(of: "-"), Int(id[id.index(after: dash)...]) != nil else {
                    throw ruleNode.error("expected a rule id of the form PREFIX-NUMBER such as \"RL-3\", found \"\(id)\"")
                }
                if breaks.contains(id) { throw ruleNode.error("rule \"\(id)\" is listed twice") }
                if let catalog = suite?.catalog {
                    guard let rule = catalog[id] else { throw ruleNode.error("rule \"\(id)\" is not in the rule catalog") }
                    if let why = rule.unprovable {
                        throw ruleNode.error("rule \"\(id)\" is marked unprovable in the rule catalog (\(why)); remove one or the other")
                    }
                }
                breaks.append(id)
            }

            var caughtBy: [Catch] = []
            for catchNode in try node.required("caughtBy").nonEmptyArray() {
                try catchNode.allowOnly(["fixture", "verdict"])
                let fixtureNode = try catchNode.required("fixture")
                let fixture = try fixtureNode.nonEmptyString()
                if let fixtureIDs, !fixtureIDs.contains(fixture), fixture != SecurityHeaderCheck.resultID {
                    throw fixtureNode.error("no fixture has the id \"\(fixture)\"")
                }
                if caughtBy.contains(where: { $0.fixture == fixture }) { throw fixtureNode.error("fixture \"\(fixture)\" is listed twice") }
                let verdict: Verdict = try catchNode.required("verdict").oneOf(["fail", "deviation"]) == "fail" ? .fail : .deviation
                caughtBy.append(Catch(fixture: fixture, verdict: verdict))
            }
            entries.append(Entry(name: name, mutation: mutation, breaks: breaks, caughtBy: caughtBy, observedOn: observedOn))
        }
        return MutationCatalog(mutations: entries)
    }
}
