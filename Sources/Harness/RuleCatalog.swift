import Foundation
import Wire

/// Who states a rule, which decides how loudly a failure is reported.
public enum RuleLevel: String, Sendable, Codable {
    /// Stated by the security reference page itself: a failure is a failure.
    case spec
    /// Behaviour of the real service where the page is silent (SPEC-NOTES): a server that
    /// differs is reported as a *deviation*, not a failure, because the page does not promise it.
    case service
}

/// One numbered, quoted sentence.
public struct Rule: Sendable, Identifiable {
    /// `HDR-1`, `RL-3`, …: the section prefix and a number.
    public var id: String
    /// The section prefix (`HDR`).
    public var section: String
    /// The sentence, quoted verbatim from its source.
    public var text: String
    public var level: RuleLevel
    /// Where the sentence comes from ("security reference: Rate limiting", "service notes: …").
    public var source: String
    /// Why no broken variant of the reference can show this rule failing (advice, a statement
    /// of purpose, a property of container images or of a deployment), or nil when a mutation
    /// in `Fixtures/mutations.json` proves that the suites catch a server breaking it.
    public var unprovable: String?

    public init(id: String, section: String, text: String, level: RuleLevel, source: String, unprovable: String? = nil) {
        self.id = id
        self.section = section
        self.text = text
        self.level = level
        self.source = source
        self.unprovable = unprovable
    }
}

/// A section of the catalog: a prefix and the page heading it numbers.
public struct RuleSection: Sendable {
    public var prefix: String
    public var title: String
}

/// The rule catalog (`Fixtures/rules.json`): every normative sentence of the security
/// reference, plus the service behaviours the suites also check, numbered by section.
public struct RuleCatalog: Sendable {
    public var sections: [RuleSection]
    public var rules: [Rule]
    private var byID: [String: Int]

    public init(sections: [RuleSection], rules: [Rule]) {
        self.sections = sections
        self.rules = rules
        var index: [String: Int] = [:]
        for (i, rule) in rules.enumerated() { index[rule.id] = i }
        byID = index
    }

    public subscript(id: String) -> Rule? { byID[id].map { rules[$0] } }

    public func section(_ prefix: String) -> RuleSection? { sections.first { $0.prefix == prefix } }

    /// The order of a section in the report (catalog order).
    public func sectionIndex(_ prefix: String) -> Int { sections.firstIndex { $0.prefix == prefix } ?? sections.count }

    /// True when `id` is selected by a `--rules` argument: an exact rule id (`RL-3`) or a
    /// section prefix (`RL`, `RL-`), compared case-insensitively.
    public static func matches(_ id: String, selector: String) -> Bool {
        let sel = selector.uppercased()
        let upper = id.uppercased()
        if upper == sel { return true }
        if sel.hasSuffix("-") { return upper.hasPrefix(sel) }
        // A bare prefix selects a whole section; "RL-1" must not select "RL-10".
        return upper.hasPrefix(sel + "-")
    }

    /// Loads and validates a catalog file.
    public static func load(from url: URL) throws -> RuleCatalog {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, message: "cannot read the rule catalog: \(error.localizedDescription)")
        }
        return try decode(Array(data), file: url.path)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws -> RuleCatalog {
        let root = try JSONCursor.parse(bytes, file: file)
        try root.allowOnly(["sections", "rules"])
        var sections: [RuleSection] = []
        for node in try root.required("sections").nonEmptyArray() {
            try node.allowOnly(["prefix", "title"])
            let prefixNode = try node.required("prefix")
            let prefix = try prefixNode.nonEmptyString()
            guard prefix.allSatisfy({ $0.isUppercase || $0.isNumber }) else {
                throw prefixNode.error("expected an upper-case section prefix such as \"HDR\", found \"\(prefix)\"")
            }
            if sections.contains(where: { $0.prefix == prefix }) { throw prefixNode.error("section \"\(prefix)\" is declared twice") }
            sections.append(RuleSection(prefix: prefix, title: try node.required("title").nonEmptyString()))
        }
        var rules: [Rule] = []
        var seen: Set<String> = []
        for node in try root.required("rules").nonEmptyArray() {
            try node.allowOnly(["id", "text", "level", "source", "unprovable"])
            let idNode = try node.required("id")
            let id = try idNode.nonEmptyString()
            guard let dash = id.lastIndex(of: "-"), Int(id[id.index(after: dash)...]) != nil else {
                throw idNode.error("expected a rule id of the form PREFIX-NUMBER such as \"RL-3\", found \"\(id)\"")
            }
            let prefix = String(id[..<dash])
            guard sections.contains(where: { $0.prefix == prefix }) else {
                throw idNode.error("rule \"\(id)\" names section \"\(prefix)\", which is not in $.sections")
            }
            guard seen.insert(id).inserted else { throw idNode.error("rule id \"\(id)\" is used twice") }
            let levelNode = try node.required("level")
            guard let level = RuleLevel(rawValue: try levelNode.oneOf(["spec", "service"])) else {
                throw levelNode.expected("\"spec\" or \"service\"")
            }
            rules.append(Rule(id: id, section: prefix, text: try node.required("text").nonEmptyString(),
                              level: level, source: try node.required("source").nonEmptyString(),
                              unprovable: try node.optional("unprovable")?.nonEmptyString()))
        }
        return RuleCatalog(sections: sections, rules: rules)
    }
}
